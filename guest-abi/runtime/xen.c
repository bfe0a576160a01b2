/* The Xen services the test guests use, on top of hypercall5(). */
/* kxen_rt.h first: the Xen headers expect <stdint.h> types already declared. */
#include "kxen_rt.h"
#include <xen/sched.h>
#include <xen/version.h>

long xen_console_write(const char *buf, size_t len)
{
    return hypercall5(__HYPERVISOR_console_io, CONSOLEIO_write, len, (unsigned long)(uintptr_t)buf,
                      0, 0);
}

long xen_version(int cmd, void *arg)
{
    return hypercall5(__HYPERVISOR_xen_version, (unsigned long)cmd, (unsigned long)(uintptr_t)arg,
                      0, 0, 0);
}

long xen_shutdown(unsigned int reason)
{
    struct sched_shutdown s = {.reason = reason};
    return hypercall5(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (unsigned long)(uintptr_t)&s, 0, 0,
                      0);
}

long xen_yield(void)
{
    return hypercall5(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0, 0, 0);
}

long xen_event_channel_op(int cmd, void *arg)
{
    return hypercall5(__HYPERVISOR_event_channel_op, (unsigned long)cmd, (unsigned long)(uintptr_t)arg,
                      0, 0, 0);
}

long xen_grant_table_op(unsigned int cmd, void *ops, unsigned int count)
{
    return hypercall5(__HYPERVISOR_grant_table_op, cmd, (unsigned long)(uintptr_t)ops, count, 0, 0);
}

long xen_memory_op(unsigned int cmd, void *arg)
{
    return hypercall5(__HYPERVISOR_memory_op, cmd, (unsigned long)(uintptr_t)arg, 0, 0, 0);
}

long xen_hvm_op(unsigned int op, void *arg)
{
    return hypercall5(__HYPERVISOR_hvm_op, op, (unsigned long)(uintptr_t)arg, 0, 0, 0);
}

long xen_console_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    size_t len = rt_vformat(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return xen_console_write(buf, len);
}
