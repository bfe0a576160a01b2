/* Port 0xE9 debug console and the fatal-error path, both usable before hypercalls exist. */
/* kxen_rt.h first: the Xen headers expect <stdint.h> types already declared. */
#include "kxen_rt.h"
#include <xen/sched.h>

#include "rt_layout.h"

void debugcon_write(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        __asm__ volatile("outb %0, %1" : : "a"(buf[i]), "Nd"((uint16_t)RT_DEBUGCON_PORT));
}

void debugcon_puts(const char *s) { debugcon_write(s, rt_strlen(s)); }

void debugcon_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    size_t len = rt_vformat(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    debugcon_write(buf, len);
}

void rt_halt(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

void rt_fail(const char *why)
{
    debugcon_printf("kxen-rt: FATAL: %s\n", why);
    if (hypercall_transport() != HCALL_NONE) {
        long err = xen_shutdown(SHUTDOWN_crash);
        debugcon_printf("kxen-rt: SCHEDOP_shutdown(crash) returned %ld; halting\n", err);
    } else {
        debugcon_puts("kxen-rt: no hypercall transport; halting\n");
    }
    rt_halt();
}
