/* Hypercall transport: find the Xen CPUID leaves, then either register the hypercall page
 * (wrmsr with its address; the hypervisor fills 32-byte stubs) or use vmcall/vmmcall. */
/* kxen_rt.h first: the Xen headers expect <stdint.h> types already declared. */
#include "kxen_rt.h"
#include <xen/errno.h>
#include <xen/arch-x86/cpuid.h>
#include "rt_internal.h"

/* Where guests look for the Xen leaves: every 0x100 from XEN_CPUID_FIRST_LEAF, as Linux does. */
#define XEN_CPUID_LAST (XEN_CPUID_FIRST_LEAF + 0x10000u)
#define XEN_CPUID_STEP 0x100u
#define HCALL_STUB_SIZE 32u
#define HCALL_PAGE_SIZE 4096u

/* Transport state is file-local: there is one hypervisor and one hypercall page per guest. */
static enum hcall_transport rt_transport;
static uint32_t rt_cpuid_base;
static uint8_t rt_hypercall_page[HCALL_PAGE_SIZE]
    __attribute__((aligned(HCALL_PAGE_SIZE), section(".bss.rt_hypercall_page")));

struct cpuid_regs {
    uint32_t eax, ebx, ecx, edx;
};

static struct cpuid_regs cpuid(uint32_t leaf)
{
    struct cpuid_regs r;
    __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(0));
    return r;
}

static int is_xen_signature(const struct cpuid_regs *r)
{
    return r->ebx == XEN_CPUID_SIGNATURE_EBX && r->ecx == XEN_CPUID_SIGNATURE_ECX &&
           r->edx == XEN_CPUID_SIGNATURE_EDX;
}

/* Xen may sit above other hypervisors' leaves (e.g. Viridian at 0x40000000). */
static uint32_t find_xen_leaves(void)
{
    for (uint32_t base = XEN_CPUID_FIRST_LEAF; base <= XEN_CPUID_LAST; base += XEN_CPUID_STEP) {
        struct cpuid_regs r = cpuid(base);
        if (is_xen_signature(&r) && r.eax >= base + 2)
            return base;
    }
    return 0;
}

static enum hcall_transport direct_for_vendor(void)
{
    struct cpuid_regs r = cpuid(0);
    uint32_t words[3] = {r.ebx, r.edx, r.ecx};  /* vendor string order is EBX EDX ECX */
    if (rt_memcmp(words, "AuthenticAMD", 12) == 0 || rt_memcmp(words, "HygonGenuine", 12) == 0)
        return HCALL_VMMCALL;
    return HCALL_VMCALL;
}

static void wrmsr(uint32_t msr, uint64_t value)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}

/* The stubs this runtime calls must have been written by the hypervisor (the page starts
 * zeroed: entry.S clears .bss). */
static int page_has_stubs(void)
{
    static const unsigned used[] = {__HYPERVISOR_xen_version, __HYPERVISOR_console_io,
                                    __HYPERVISOR_sched_op};
    for (unsigned i = 0; i < sizeof(used) / sizeof(used[0]); i++) {
        if (rt_hypercall_page[used[i] * HCALL_STUB_SIZE] == 0)
            return 0;
    }
    return 1;
}

static int setup_hypercall_page(uint32_t base)
{
    struct cpuid_regs r = cpuid(base + 2);
    if (r.eax < 1) {
        debugcon_printf("kxen-rt: CPUID %#x reports %u hypercall pages\n", base + 2, r.eax);
        return -XEN_ENOSYS;
    }
    uintptr_t gpa = (uintptr_t)rt_hypercall_page;
    debugcon_printf("kxen-rt: hypercall page at %#lx via MSR %#x\n", (unsigned long)gpa, r.ebx);
    wrmsr(r.ebx, gpa);
    if (!page_has_stubs()) {
        debugcon_puts("kxen-rt: hypercall page still empty after wrmsr\n");
        return -XEN_EFAULT;
    }
    return 0;
}

int hypercall_init(void)
{
    uint32_t base = find_xen_leaves();
    if (base == 0) {
        debugcon_printf("kxen-rt: no Xen CPUID leaves found in %#x..%#x\n", XEN_CPUID_FIRST_LEAF,
                        XEN_CPUID_LAST);
        return -XEN_ENOSYS;
    }
    rt_cpuid_base = base;
    enum hcall_transport t = HCALL_PAGE;
    if (rt_cmdline_has("hcall=direct")) {
        t = direct_for_vendor();
    } else {
        int err = setup_hypercall_page(base);
        if (err < 0)
            return err;
    }
    rt_transport = t;
    debugcon_printf("kxen-rt: Xen CPUID base %#x, transport %s\n", base, hypercall_transport_name(t));
    return 0;
}

enum hcall_transport hypercall_transport(void) { return rt_transport; }

uint32_t hypercall_cpuid_base(void) { return rt_cpuid_base; }

const char *hypercall_transport_name(enum hcall_transport t)
{
    switch (t) {
    case HCALL_PAGE: return "hypercall-page";
    case HCALL_VMCALL: return "vmcall";
    case HCALL_VMMCALL: return "vmmcall";
    default: return "none";
    }
}

#ifdef __x86_64__
/* 64-bit ABI: nr in RAX, args in RDI RSI RDX R10 R8; every argument register may be clobbered. */
#define HCALL_ASM(insn, ...)                                                                    \
    __asm__ volatile(insn : "+a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)        \
                     : __VA_ARGS__ : "memory", "rcx", "r9", "r11")
#else
/* 32-bit ABI: nr in EAX, args in EBX ECX EDX ESI EDI. */
#define HCALL_ASM(insn, ...)                                                                    \
    __asm__ volatile(insn : "+a"(ret), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4), "+D"(a5)         \
                     : __VA_ARGS__ : "memory")
#endif

long hypercall5(unsigned int nr, unsigned long a1, unsigned long a2, unsigned long a3,
                unsigned long a4, unsigned long a5)
{
    long ret = (long)nr;
#ifdef __x86_64__
    register unsigned long r10 __asm__("r10") = a4;
    register unsigned long r8 __asm__("r8") = a5;
#endif
    if (nr >= HCALL_PAGE_SIZE / HCALL_STUB_SIZE)
        return -XEN_ENOSYS;
    switch (rt_transport) {
    case HCALL_PAGE: {
        const void *stub = rt_hypercall_page + nr * HCALL_STUB_SIZE;
        HCALL_ASM("call *%[stub]", [stub] "rm"(stub));
        return ret;
    }
    case HCALL_VMCALL: HCALL_ASM("vmcall", "i"(0)); return ret;
    case HCALL_VMMCALL: HCALL_ASM("vmmcall", "i"(0)); return ret;
    default: return -XEN_ENOSYS;
    }
}
