/* Test guest "hostile": hands the hypervisor bad hypercall arguments and checks that each one
 * comes back as the error real Xen returns (never a crash or hang of the host), then powers
 * off. A mismatch is printed on port 0xE9 and ends in SHUTDOWN_crash. */
#include "kxen_rt.h"
#include <xen/errno.h>
#include <xen/sched.h>
#include <xen/version.h>

/* An address the guest does not map: 64-bit, PML4 slot 1 (the runtime maps only slot 0);
 * 32-bit (paging off), the last bytes below 4 GiB, far above a test guest's RAM. */
#ifdef __x86_64__
#define UNMAPPED_VA 0x0000008000000000UL
#else
#define UNMAPPED_VA 0xfffffff0UL
#endif
/* No Xen hypercall has this number (Xen defines up to __HYPERVISOR_arch_7 = 55). */
#define UNUSED_HYPERCALL 100u
#define UNKNOWN_SUBOP 0x7fffu

/* Prints one check's outcome; returns 1 if the hypervisor gave the expected error. */
static unsigned expect(const char *what, long got, long want)
{
    int ok = got == want;
    debugcon_printf("hostile: %s: got %ld, want %ld: %s\n", what, got, want, ok ? "ok" : "MISMATCH");
    return ok ? 1u : 0u;
}

int main(void)
{
    debugcon_puts("hostile: bad hypercall arguments (" KXEN_RT_BITS ")\n");
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");

    const unsigned n = 5;
    unsigned passed = 0;
    passed += expect("unknown hypercall", hypercall5(UNUSED_HYPERCALL, 0, 0, 0, 0, 0),
                     -XEN_ENOSYS);
    passed += expect("console_io unknown cmd",
                     hypercall5(__HYPERVISOR_console_io, UNKNOWN_SUBOP, 0, 0, 0, 0), -XEN_ENOSYS);
    passed += expect("console_io write from unmapped buffer",
                     hypercall5(__HYPERVISOR_console_io, CONSOLEIO_write, 16, UNMAPPED_VA, 0, 0),
                     -XEN_EFAULT);
    passed += expect("xen_version extraversion to unmapped buffer",
                     hypercall5(__HYPERVISOR_xen_version, XENVER_extraversion, UNMAPPED_VA, 0, 0, 0),
                     -XEN_EFAULT);
    passed += expect("sched_op shutdown with unmapped argument",
                     hypercall5(__HYPERVISOR_sched_op, SCHEDOP_shutdown, UNMAPPED_VA, 0, 0, 0),
                     -XEN_EFAULT);

    xen_console_printf("hostile: %u of %u checks passed (" KXEN_RT_BITS ")\n", passed, n);
    if (passed != n)
        rt_fail("hypervisor returned unexpected errors");
    return 0;
}
