/* Shared by the hostile frontend guests (blk-frontend, net-frontend): check reporting on
 * console_io, TSC deadlines, XenStore string helpers and state waits over xen-abi's client,
 * v1 grants to dom0 and polled event channels. Each guest defines fe_name ("blk-frontend"). */
#ifndef FRONTEND_COMMON_H
#define FRONTEND_COMMON_H

#include "../xen-abi/abi.h"
#include <xen/io/xenbus.h>

/* The prefix of every line the guest prints, defined by the guest. */
extern const char fe_name[];

/* ---- checks (checks.c): one "<fe_name>: <what>: ..." line each on console_io; a mismatch does
 * not stop the run, so one run reports every wrong answer ---- */
void check_true(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_eq(long long got, long long want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* One check with a ready-made description and detail (for guest-specific check kinds). */
void check_report(int ok, const char *what, const char *detail);
/* A setup step failed: prints it and the summary so far, then SHUTDOWN_crash. */
__attribute__((noreturn)) void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "<fe_name>: N of M checks passed (B-bit)" and powers off (crashes if any failed). */
__attribute__((noreturn)) void finish(void);
/* Milliseconds from the TSC (CPUID's Xen time leaf gives its kHz); yields while waiting. */
uint64_t deadline_after(unsigned ms);
int deadline_passed(uint64_t deadline);

/* ---- XenStore (xenbus.c), through xs_client.c ---- */
int xs_read_str(const char *path, char *out, size_t size);   /* 1, or 0 on any error */
void xs_write_str(const char *path, const char *value);        /* fatal on error */
void xs_write_number(const char *path, unsigned long value);   /* fatal on error */
void xs_remove(const char *path);                              /* ENOENT is fine */
int parse_u64(const char *s, uint64_t *out);
/* A node as a decimal number, or `fallback` if it is missing or not one. */
uint64_t xs_read_number(const char *path, uint64_t fallback);
/* Polls the `state` node under `dir` until it is `want` (or 10 s pass); returns the last read. */
unsigned wait_state(const char *dir, unsigned want);
int contains(const char *haystack, const char *needle);

/* ---- grants and event channels (grants.c) ---- */
#define GNTTAB_GPFN 0xf0000ul       /* where grant frame 0 is placed (a hole below 4 GiB) */
#define REF_UNGRANTED 300u          /* inside the table, never granted */
#define REF_BEYOND 100000u          /* beyond the table (64 frames of 512 entries at most) */
void gnttab_init(void);
/* Grants frame `pfn` to dom0 as `ref`; the flags are written last. */
void grant_frame(grant_ref_t ref, unsigned long pfn, int readonly);
void end_grant(grant_ref_t ref);
uint16_t grant_flags(grant_ref_t ref);
/* Places shared_info on `page` (identity-mapped RAM) and masks every port: the guest polls. */
void map_shared_info(void *page);
evtchn_port_t alloc_port_for_dom0(void);
int port_pending(evtchn_port_t port);
void port_clear(evtchn_port_t port);
void kick(evtchn_port_t port);                                 /* EVTCHNOP_send, fatal on error */

#endif
