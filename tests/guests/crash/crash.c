/* Test guest "crash": prints one line through console_io and port 0xE9, then asks for
 * SHUTDOWN_crash, so integration tests can check that a guest crash is reported as such. */
/* kxen_rt.h first: the Xen headers expect <stdint.h> types already declared. */
#include "kxen_rt.h"
#include <xen/sched.h>

static const char line[] = "crash: guest requesting SHUTDOWN_crash (" KXEN_RT_BITS ")\n";

int main(void)
{
    debugcon_write(line, sizeof(line) - 1);
    long err = hypercall_init();
    if (err < 0)
        rt_fail("hypercall_init");
    err = xen_console_write(line, sizeof(line) - 1);
    if (err < 0)
        debugcon_printf("crash: console_io returned %ld\n", err);
    err = xen_shutdown(SHUTDOWN_crash);
    debugcon_printf("crash: SCHEDOP_shutdown(crash) returned %ld\n", err);
    rt_halt();
}
