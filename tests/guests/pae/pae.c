/* Test guest "pae" (32-bit only): turns on PAE paging (CR4.PAE, a 4-entry PDPT, 3-level tables,
 * EFER.NXE) before its first hypercall, as 32-bit kernels do, then makes the hypercalls whose
 * arguments kxen must translate through those tables:
 *   - the first GiB identity-mapped with 2 MiB pages (code, stack, hypercall page);
 *   - a 4 KiB-mapped window at 0x40000000 onto a buffer elsewhere (NX, supervisor-only), from
 *     which console_io writes a line and into which XENVER_extraversion is copied.
 * Prints "pae: N checks passed (32-bit)" and powers off. */
#include "../xen-abi/abi.h"
#include <xen/version.h>

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define WINDOW_VA 0x40000000u

static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pd_low[512] __attribute__((aligned(4096)));
static uint64_t pd_window[512] __attribute__((aligned(4096)));
static uint64_t pt_window[512] __attribute__((aligned(4096)));
static char backing[2][4096] __attribute__((aligned(4096)));

static void enable_pae_paging(void)
{
    for (unsigned i = 0; i < 512; i++)
        pd_low[i] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
    /* Two 4 KiB pages at WINDOW_VA, mapped in reverse order onto `backing`. */
    const uint64_t nx = rt_cmdline_has("nonx") ? 0 : PTE_NX;
    pt_window[0] = (uint64_t)(uintptr_t)backing[1] | PTE_P | PTE_RW | nx;
    pt_window[1] = (uint64_t)(uintptr_t)backing[0] | PTE_P | PTE_RW | nx;
    pd_window[0] = (uint64_t)(uintptr_t)pt_window | PTE_P | PTE_RW;
    pdpt[0] = (uint64_t)(uintptr_t)pd_low | PTE_P;   /* PDPTEs: P only (RW/US are reserved) */
    pdpt[1] = (uint64_t)(uintptr_t)pd_window | PTE_P;
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080u));
    if (!rt_cmdline_has("nonx"))
        __asm__ volatile("wrmsr" ::"c"(0xc0000080u), "a"(lo | (1u << 11)), "d"(hi));  /* EFER.NXE */
    unsigned long cr4, cr0;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("mov %0, %%cr4" ::"r"(cr4 | (1ul << 5)));                       /* CR4.PAE */
    __asm__ volatile("mov %0, %%cr3" ::"r"((unsigned long)(uintptr_t)pdpt) : "memory");
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %0, %%cr0" ::"r"(cr0 | (1ul << 31) | (rt_cmdline_has("nowp") ? 0 : 1ul << 16)) : "memory");
}

int main(void)
{
    enable_pae_paging();
    debugcon_puts("pae: paging on (PAE, 3 levels)\n");
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    char *window = (char *)(uintptr_t)WINDOW_VA;
    static const char line[] = "pae: console_io from a 4 KiB page behind the PAE tables\n";
    /* The line straddles the window's two pages (backing[1] then backing[0]). */
    char *at = window + 4096 - 20;
    memcpy(at, line, sizeof(line) - 1);
    expect_true(backing[1][4096 - 20] == 'p' && backing[0][0] == line[20], "the window maps where the tables say");
    expect_eq(xen_console_write(at, sizeof(line) - 1), 0, "console_io from the straddling window buffer");
    memset(window, 0x55, 64);
    expect_eq(xen_version(XENVER_extraversion, window), 0, "XENVER_extraversion into the window");
    expect_true(backing[1][0] != 0x55, "extraversion landed in the page the PTE names");
    long v = xen_version(XENVER_version, 0);
    expect_eq(v >> 16, 4, "Xen major version");
    xen_console_printf("pae: %u checks passed (" KXEN_RT_BITS ")\n", checks_passed());
    return 0;
}
