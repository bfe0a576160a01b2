/* Test guest "apic": what CPUID and the ACPI MADT say about local APICs must hold. If CPUID
 * offers x2APIC, the guest enables it and writes IA32_X2APIC_SVR (a #GP there is the bug of a
 * CPUID that offers an absent APIC); if CPUID offers no APIC, the XSDT must list no MADT.
 * Prints "apic: x2APIC SVR ok" or "apic: no APIC offered, no MADT", then powers off. */
#include "../xen-abi/abi.h"

#define MSR_APIC_BASE 0x1bu
#define MSR_X2APIC_SVR 0x80fu
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_EN (1ull << 11)

static void cpuid1(uint32_t *ecx, uint32_t *edx)
{
    uint32_t eax = 1, ebx, c = 0;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(c), "=d"(*edx));
    *ecx = c;
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

/* 1 if the XSDT (from hvm_start_info's RSDP) lists a table with signature "APIC". */
static int madt_listed(void)
{
    const struct hvm_start_info *si = rt_start_info();
    if (!si || !si->rsdp_paddr)
        abi_fail("no RSDP in hvm_start_info");
    const uint8_t *rsdp = (const uint8_t *)(uintptr_t)si->rsdp_paddr;
    uint64_t xsdt_addr;
    memcpy(&xsdt_addr, rsdp + 24, 8);
    const uint8_t *xsdt = (const uint8_t *)(uintptr_t)xsdt_addr;
    uint32_t len;
    memcpy(&len, xsdt + 4, 4);
    expect_true(len >= 36 && len <= 36 + 8 * 16, "XSDT length %u is sane", len);
    for (uint32_t off = 36; off + 8 <= len; off += 8) {
        uint64_t table;
        memcpy(&table, xsdt + off, 8);
        if (memcmp((const void *)(uintptr_t)table, "APIC", 4) == 0)
            return 1;
    }
    return 0;
}

int main(void)
{
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    uint32_t ecx, edx;
    cpuid1(&ecx, &edx);
    const int apic = (edx >> 9) & 1, x2apic = (ecx >> 21) & 1;
    note("apic: CPUID offers APIC %d, x2APIC %d\n", apic, x2apic);
    expect_eq(madt_listed(), apic, "the XSDT lists an MADT iff CPUID offers an APIC");
    if (x2apic) {
        expect_true(apic, "x2APIC is offered only with an APIC");
        wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
        wrmsr(MSR_X2APIC_SVR, 0x1ff);  /* software-enable, spurious vector 0xff */
        expect_eq((long long)(rdmsr(MSR_X2APIC_SVR) & 0x1ff), 0x1ff, "IA32_X2APIC_SVR reads back");
        xen_console_printf("apic: x2APIC SVR ok (" KXEN_RT_BITS ")\n");
    } else if (apic) {
        xen_console_printf("apic: xAPIC offered, no x2APIC (" KXEN_RT_BITS ")\n");
    } else {
        xen_console_printf("apic: no APIC offered, no MADT (" KXEN_RT_BITS ")\n");
    }
    return 0;
}
