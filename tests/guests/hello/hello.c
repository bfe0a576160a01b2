/* Test guest "hello": greets through console_io and port 0xE9, checks the Xen version
 * (major >= 4) and powers off. Any failing step prints why on 0xE9 and crashes the domain. */
/* kxen_rt.h first: the Xen headers expect <stdint.h> types already declared. */
#include "kxen_rt.h"
#include <xen/sched.h>
#include <xen/version.h>

static const char greeting[] = "hello from kxen guest (" KXEN_RT_BITS ")\n";

static void check(long err, const char *what)
{
    if (err < 0) {
        debugcon_printf("hello: %s returned %ld\n", what, err);
        rt_fail(what);
    }
}

int main(void)
{
    debugcon_write(greeting, sizeof(greeting) - 1);
    check(hypercall_init(), "hypercall_init");
    check(xen_console_write(greeting, sizeof(greeting) - 1), "console_io(CONSOLEIO_write)");

    long version = xen_version(XENVER_version, NULL);
    check(version, "xen_version(XENVER_version)");
    unsigned long major = (unsigned long)version >> 16;
    unsigned long minor = (unsigned long)version & 0xffff;
    debugcon_printf("hello: Xen version %lu.%lu\n", major, minor);
    check(xen_console_printf("hello: Xen version %lu.%lu\n", major, minor), "console_io(version)");
    if (major < 4)
        rt_fail("Xen major version below 4");

    debugcon_puts("hello: SHUTDOWN_poweroff\n");
    check(xen_shutdown(SHUTDOWN_poweroff), "SCHEDOP_shutdown(poweroff)");
    rt_fail("SCHEDOP_shutdown(poweroff) returned");
}
