/* Test guest "gdb": a target for the gdb stub's integration test (tests/integration/cases/gdb/),
 * built with -O0 -g so gdb can break on functions by name, step lines and print variables.
 * It asks Xen's version, sums a few squares through a helper, writes the result to a watched global, and powers off.
 * With "vcpus" on the command line (kvm-xen, 2 vCPUs) nothing changes: the boot vCPU runs alone. */
#include "kxen_rt.h"
#include <xen/sched.h>
#include <xen/version.h>

volatile unsigned long gdb_watched;  /* the watchpoint target: written once by record() */

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

int main(void)
{
    debugcon_puts("gdb guest: start\n");
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    /* One hypercall before the watched write, for the stub's `monitor hypercalls` to count. */
    long version = xen_version(XENVER_version, 0);
    debugcon_printf("gdb guest: Xen %ld.%ld\n", version >> 16, version & 0xffff);
    unsigned long total = sum_of_squares(4);
    record(total);
    debugcon_printf("gdb guest: sum of squares %lu\n", total);
    if (total != 30)
        rt_fail("wrong sum");
    xen_shutdown(SHUTDOWN_poweroff);
    rt_fail("SCHEDOP_shutdown(poweroff) returned");
}
