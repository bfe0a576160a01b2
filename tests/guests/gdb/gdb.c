/* Test guest "gdb": a target for the gdb stub's integration test (tests/integration/cases/gdb/),
 * built with -O0 -g so gdb can break on functions by name, step lines and print variables.
 * It asks Xen's version, sums a few squares through a helper, writes the result to a watched global, and powers off,
 * or reboots when gdb has set gdb_reboot_requested (a fresh boot has it 0 again).
 * With "smp" on the command line (64-bit, kvm-xen, --vcpus 2) the boot vCPU first starts vCPU 1
 * (INIT + SIPI through its x2APIC), which runs ap_work() (a breakpoint target on thread 2),
 * and waits for its result. */
#include "kxen_rt.h"
#include <xen/sched.h>
#include <xen/version.h>

volatile unsigned long gdb_watched;  /* the watchpoint target: written once by record() */
volatile int gdb_reboot_requested;   /* set by gdb: reboot once instead of powering off */

unsigned long square(unsigned long x)
{
    unsigned long result = x * x;
    return result;
}

static void record(unsigned long value)
{
    gdb_watched = value;
}

unsigned long sum_of_squares(unsigned long n)
{
    unsigned long total = 0;
    for (unsigned long i = 1; i <= n; ++i)
        total += square(i);
    return total;
}

#ifdef __x86_64__
#define GDB_AP_TRAMPOLINE 0x70000ul  /* conventional RAM below 1 MiB, clear of the boot info */
#define MSR_APIC_BASE 0x1bu
#define MSR_X2APIC_ICR 0x830u
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_EN (1ull << 11)

extern const char gdb_ap_trampoline[], gdb_ap_trampoline_end[], gdb_ap_gdtr_offset[];
uint32_t gdb_ap_cr3;
volatile unsigned long ap_result;
volatile int ap_done;

unsigned long ap_work(unsigned long x)
{
    unsigned long doubled = 2 * x;
    return doubled + x;
}

void gdb_ap_main(void)
{
    ap_result = ap_work(14);
    ap_done = 1;
}

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/* An IPI through the x2APIC's ICR (one MSR write sends it), as Linux starts its APs here. */
static void apic_ipi(uint32_t apic_id, uint32_t command)
{
    wrmsr(MSR_X2APIC_ICR, ((uint64_t)apic_id << 32) | command);
}

static void start_second_vcpu(void)
{
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } gdtr;
    unsigned long cr3;
    char *tramp = (char *)GDB_AP_TRAMPOLINE;
    for (const char *p = gdb_ap_trampoline; p < gdb_ap_trampoline_end; ++p)
        *tramp++ = *p;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    gdb_ap_cr3 = (uint32_t)cr3;
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
    char *patch = (char *)GDB_AP_TRAMPOLINE + (unsigned long)gdb_ap_gdtr_offset;
    *(uint16_t *)patch = gdtr.limit;
    *(uint32_t *)(patch + 2) = (uint32_t)gdtr.base;
    apic_ipi(1, 0x4500);  /* INIT, level assert */
    apic_ipi(1, 0x4600 | (GDB_AP_TRAMPOLINE >> 12));  /* start-up at the trampoline */
    while (!ap_done)
        __asm__ volatile("pause");
    debugcon_printf("gdb guest: vCPU 1 computed %lu\n", ap_result);
    if (ap_result != 42)
        rt_fail("wrong result from vCPU 1");
}
#endif

int main(void)
{
    debugcon_puts("gdb guest: start\n");
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    /* One hypercall before the watched write, for the stub's `monitor hypercalls` to count. */
    long version = xen_version(XENVER_version, 0);
    debugcon_printf("gdb guest: Xen %ld.%ld\n", version >> 16, version & 0xffff);
#ifdef __x86_64__
    if (rt_cmdline_has("smp"))
        start_second_vcpu();
#endif
    unsigned long total = sum_of_squares(4);
    record(total);
    debugcon_printf("gdb guest: sum of squares %lu\n", total);
    if (total != 30)
        rt_fail("wrong sum");
    if (gdb_reboot_requested) {
        debugcon_puts("gdb guest: rebooting\n");
        xen_shutdown(SHUTDOWN_reboot);
        rt_fail("SCHEDOP_shutdown(reboot) returned");
    }
    xen_shutdown(SHUTDOWN_poweroff);
    rt_fail("SCHEDOP_shutdown(poweroff) returned");
}
