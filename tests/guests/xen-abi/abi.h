/* Test guest "xen-abi": shared declarations of its phases (event channels 2-level and FIFO,
 * grant tables v1/v2, XenStore over the ring) and of its check helpers. */
#ifndef XEN_ABI_GUEST_H
#define XEN_ABI_GUEST_H

#include "kxen_rt.h"
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/io/xs_wire.h>

#define PAGE_SIZE 4096u
#define PAGE_SHIFT 12

/* ---- checks (check.c): one "ok N what" line each; a mismatch prints
 * "FAIL: <what> got X want Y" and ends the domain with SHUTDOWN_crash. ---- */
void expect_eq(long long got, long long want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void expect_ne(long long got, long long unwanted, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void expect_str(const char *got, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A condition that holds (got 1 want 1) or not. */
void expect_true(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An informational line (not a check). */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void abi_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
unsigned checks_passed(void);

/* ---- freestanding helpers (the runtime's string.c provides the mem* symbols) ---- */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
int str_eq(const char *a, const char *b);
/* Parses a decimal number; -1 if s is not one. */
long parse_decimal(const char *s);

/* ---- the guest's pages ---- */
/* Page-aligned RAM pages in .bss, by purpose. */
enum guest_page {
    PG_SHARED_INFO,
    PG_FIFO_CONTROL,
    PG_FIFO_ARRAY,
    PG_DATA_A,      /* grant copy source */
    PG_DATA_B,      /* grant copy destination */
    PG_DATA_RO,     /* granted read-only */
    PG_DATA_D,      /* plain frame (gmfn copies) */
    PG_DATA_SUB,    /* v2 sub-page grant */
    PG_COUNT
};
void *guest_page(enum guest_page which);
unsigned long guest_pfn(enum guest_page which);
/* Guest-physical holes (above any test guest's RAM, below 4 GiB) where Xen's frames go. */
#define GNTTAB_SHARED_GPFN 0xf0000ul
#define GNTTAB_STATUS_GPFN 0xf0010ul
#define UNPOPULATED_GPFN 0xf0100ul

/* ---- shared state between phases ---- */
struct shared_info *abi_shared_info(void);
/* The guest's own domain id, as XenStore's "domid" node says (read in the XenStore phase). */
domid_t abi_domid(void);
void abi_set_domid(domid_t domid);

/* ---- 2-level bits in shared_info / vcpu 0's legacy vcpu_info ---- */
#define EVTCHN_WORD_BITS (sizeof(xen_ulong_t) * 8)
int l2_pending(evtchn_port_t port);
int l2_masked(evtchn_port_t port);
int l2_sel(evtchn_port_t port);         /* vcpu 0's evtchn_pending_sel bit for the port's word */
int l2_upcall_pending(void);            /* vcpu 0's evtchn_upcall_pending */
void l2_clear_pending(evtchn_port_t port);
void l2_set_mask(evtchn_port_t port);
void l2_mask_all(void);
void l2_clear_upcall(void);             /* clears evtchn_pending_sel and evtchn_upcall_pending */
/* Waits (yielding, bounded) until the port is pending; 1 if it became pending. */
int l2_wait_pending(evtchn_port_t port);

/* ---- hypercall shorthands returning the hypercall result ---- */
long evtchn_send(evtchn_port_t port);
long evtchn_close(evtchn_port_t port);
long evtchn_unmask(evtchn_port_t port);
long evtchn_status_of(evtchn_port_t port, evtchn_status_t *st);
long evtchn_reset_dom(domid_t dom);
long hvm_get_param(uint32_t index, uint64_t *value);

/* ---- phases ---- */
void phase_shared_info(void);
void phase_xenstore(void);
void phase_gnttab(void);
void phase_evtchn_2l(void);
/* runstate_on_kvm_clock: runstate comes from KVM's kvmclock, not the guest's pvclock (kvm-xen). */
void phase_time(int runstate_on_kvm_clock);
/* fifo_optional: -ENOSYS from EVTCHNOP_init_control skips the phase (kvm-xen transport). */
void phase_evtchn_fifo(int fifo_optional);

#endif
