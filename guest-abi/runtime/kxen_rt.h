/* kxen guest runtime: the tiny freestanding C API that in-repo test and example guests use.
 *
 * The runtime's entry (entry.S) is the PVH entry point: it builds its own GDT and stack,
 * switches to long mode in the 64-bit flavour, then calls main(). Returning 0 from main
 * powers the domain off, anything else crashes it (SCHEDOP_shutdown).
 */
#ifndef KXEN_RT_H
#define KXEN_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Ask the Xen headers for the current interface (the default is the pre-3.1 legacy ABI, whose
 * sched_op is the compat one). Expands lazily to the value xen-compat.h defines. */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ __XEN_LATEST_INTERFACE_VERSION__
#endif

#include <xen/xen.h>
#include <xen/arch-x86/hvm/start_info.h>

#ifdef __x86_64__
#define KXEN_RT_BITS "64-bit"
#else
#define KXEN_RT_BITS "32-bit"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Which way hypercalls reach the hypervisor once hypercall_init() succeeded. */
enum hcall_transport {
    HCALL_NONE = 0,   /* hypercall_init() not called or failed */
    HCALL_PAGE,       /* call into the hypercall page the hypervisor filled in */
    HCALL_VMCALL,     /* direct Intel vmcall */
    HCALL_VMMCALL,    /* direct AMD vmmcall */
};

/* ---- start-up information (valid for the whole run) ---- */
/* The hvm_start_info the loader passed in EBX, or NULL if it was missing or had a bad magic. */
const struct hvm_start_info *rt_start_info(void);
/* The command line (NUL-terminated copy, truncated to 255 bytes), "" if none. */
const char *rt_cmdline(void);
/* 1 if `token` appears as a whole space-separated word of the command line. */
int rt_cmdline_has(const char *token);

/* ---- hypercalls ---- */
/* Finds the Xen CPUID leaves and sets up the transport: hypercall page by default, vmcall or
 * vmmcall (by CPU vendor) if the command line holds `hcall=direct`. Returns 0 or a negative
 * Xen errno; on failure it has already printed why on port 0xE9. */
int hypercall_init(void);
enum hcall_transport hypercall_transport(void);
const char *hypercall_transport_name(enum hcall_transport t);
/* CPUID base of the Xen leaves found by hypercall_init() (0 before). */
uint32_t hypercall_cpuid_base(void);
/* Raw hypercall with up to five arguments; -ENOSYS (Xen value) if no transport is set up. */
long hypercall5(unsigned int nr, unsigned long a1, unsigned long a2, unsigned long a3,
                unsigned long a4, unsigned long a5);

/* ---- Xen services ---- */
/* HYPERVISOR_console_io(CONSOLEIO_write): returns 0 or a negative Xen errno. */
long xen_console_write(const char *buf, size_t len);
/* HYPERVISOR_xen_version(cmd, arg): XENVER_version returns (major << 16) | minor. */
long xen_version(int cmd, void *arg);
/* HYPERVISOR_sched_op(SCHEDOP_shutdown, reason): returns only on failure (negative errno). */
long xen_shutdown(unsigned int reason);
/* HYPERVISOR_sched_op(SCHEDOP_yield): lets the hypervisor run (e.g. a backend being polled). */
long xen_yield(void);
/* Thin wrappers: each passes its op struct's address and returns the hypercall's result. */
long xen_event_channel_op(int cmd, void *arg);                    /* EVTCHNOP_* */
long xen_grant_table_op(unsigned int cmd, void *ops, unsigned int count); /* GNTTABOP_* */
long xen_memory_op(unsigned int cmd, void *arg);                  /* XENMEM_* */
long xen_hvm_op(unsigned int op, void *arg);                      /* HVMOP_* */

/* ---- debug console (port 0xE9), usable before anything else ---- */
void debugcon_write(const char *buf, size_t len);
void debugcon_puts(const char *s);

/* ---- printf-lite: %s %c %d %i %u %x %p %%, length modifiers l ll z; width and 0 flag ---- */
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/* rt_vsnprintf, returning how many bytes landed in buf (without the NUL): what a sink writes. */
size_t rt_vformat(char *buf, size_t size, const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Formats into a 256-byte buffer and writes it to port 0xE9. */
void debugcon_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats into a 256-byte buffer and writes it through console_io; returns its result. */
long xen_console_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- helpers ---- */
size_t rt_strlen(const char *s);
/* Prints "kxen-rt: FATAL: <why>" on port 0xE9, then SHUTDOWN_crash; if even that fails,
 * halts with interrupts off. Never returns. */
__attribute__((noreturn)) void rt_fail(const char *why);
/* Halts forever with interrupts off. */
__attribute__((noreturn)) void rt_halt(void);

/* 1 if `token` is a whole space- or tab-separated word of `line` (empty token: 0). */
int rt_cmdline_word(const char *line, const char *token);

#ifdef __cplusplus
}
#else
/* The guest's entry point, called by the runtime. */
int main(void);
#endif

#endif
