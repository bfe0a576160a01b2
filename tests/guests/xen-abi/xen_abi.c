/* Test guest "xen-abi": drives Xen's ABI directly and asserts every result against Xen's
 * documented behaviour: shared_info, XenStore over its ring (read/write/directory/rm,
 * transactions, watches, permissions, errors), grant tables v1 and v2 with GNTTABOP_copy,
 * 2-level event channels, time (pvclock, wallclock, timers, runstate), then FIFO event channels. Ends with "XEN-ABI-PASS <n> checks".
 *
 * Command line: hcall=direct (runtime), fifo=optional (accept -ENOSYS from
 * EVTCHNOP_init_control and skip the FIFO phase: kxen's kvm-xen transport keeps KVM's
 * in-kernel 2-level delivery), runstate=kvm (runstate times are KVM's kvmclock). */
#include "abi.h"

#include <xen/sched.h>

static uint8_t pages[PG_COUNT][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static domid_t own_domid = DOMID_SELF;

void *guest_page(enum guest_page which) { return pages[which]; }

/* The runtime runs identity-mapped: a page's address is its guest-physical address. */
unsigned long guest_pfn(enum guest_page which) { return (unsigned long)(uintptr_t)pages[which] >> PAGE_SHIFT; }

struct shared_info *abi_shared_info(void) { return (struct shared_info *)guest_page(PG_SHARED_INFO); }

domid_t abi_domid(void) { return own_domid; }

void abi_set_domid(domid_t domid) { own_domid = domid; }

/* ---- 2-level bits: the guest owns mask and clearing; Xen sets pending and selectors ---- */
static volatile xen_ulong_t *pending_words(void) { return abi_shared_info()->evtchn_pending; }
static volatile xen_ulong_t *mask_words(void) { return abi_shared_info()->evtchn_mask; }
static volatile struct vcpu_info *vcpu0(void) { return &abi_shared_info()->vcpu_info[0]; }
static xen_ulong_t bit_of(evtchn_port_t port) { return (xen_ulong_t)1 << (port % EVTCHN_WORD_BITS); }

int l2_pending(evtchn_port_t port)
{
    return (pending_words()[port / EVTCHN_WORD_BITS] & bit_of(port)) != 0;
}

int l2_masked(evtchn_port_t port) { return (mask_words()[port / EVTCHN_WORD_BITS] & bit_of(port)) != 0; }

int l2_sel(evtchn_port_t port)
{
    return (vcpu0()->evtchn_pending_sel & ((xen_ulong_t)1 << (port / EVTCHN_WORD_BITS))) != 0;
}

int l2_upcall_pending(void) { return vcpu0()->evtchn_upcall_pending != 0; }

void l2_clear_pending(evtchn_port_t port)
{
    __atomic_and_fetch(&abi_shared_info()->evtchn_pending[port / EVTCHN_WORD_BITS], ~bit_of(port),
                       __ATOMIC_SEQ_CST);
}

void l2_set_mask(evtchn_port_t port)
{
    __atomic_or_fetch(&abi_shared_info()->evtchn_mask[port / EVTCHN_WORD_BITS], bit_of(port),
                      __ATOMIC_SEQ_CST);
}

void l2_mask_all(void)
{
    for (unsigned i = 0; i < EVTCHN_WORD_BITS; i++)
        __atomic_store_n(&abi_shared_info()->evtchn_mask[i], ~(xen_ulong_t)0, __ATOMIC_SEQ_CST);
}

void l2_clear_upcall(void)
{
    struct vcpu_info *v = &abi_shared_info()->vcpu_info[0];
    __atomic_store_n(&v->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&v->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
}

#define WAIT_YIELDS 200000

int l2_wait_pending(evtchn_port_t port)
{
    for (unsigned i = 0; i < WAIT_YIELDS; i++) {
        if (l2_pending(port))
            return 1;
        xen_yield();
    }
    return l2_pending(port);
}

/* ---- phase 0: shared_info in one of our RAM pages, as Linux does ---- */
void phase_shared_info(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0,
        .gpfn = guest_pfn(PG_SHARED_INFO)};
    memset(guest_page(PG_SHARED_INFO), 0x5a, PAGE_SIZE);
    expect_eq(xen_memory_op(XENMEM_add_to_physmap, &xatp), 0, "add_to_physmap(shared_info)");
    /* Our scribble is gone: the frame now is Xen's shared_info (wallclock, vcpu_info...). */
    expect_ne((long long)abi_shared_info()->evtchn_pending[0], (long long)(xen_ulong_t)0x5a5a5a5a5a5a5a5aull,
              "shared_info replaced the page's old contents");
    xatp.idx = 1;
    expect_eq(xen_memory_op(XENMEM_add_to_physmap, &xatp), -XEN_EINVAL,
              "add_to_physmap(shared_info, idx 1)");
    l2_mask_all();
    for (unsigned i = 0; i < EVTCHN_WORD_BITS; i++)
        abi_shared_info()->evtchn_pending[i] = 0;
    l2_clear_upcall();
}

int main(void)
{
    debugcon_puts("xen-abi: Xen ABI checks (" KXEN_RT_BITS ")\n");
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    const int fifo_optional = rt_cmdline_has("fifo=optional");
    note("xen-abi: start (" KXEN_RT_BITS ", transport %s%s)\n",
         hypercall_transport_name(hypercall_transport()), fifo_optional ? ", fifo optional" : "");
    phase_shared_info();
    phase_xenstore();
    phase_gnttab();
    phase_evtchn_2l();
    phase_time(rt_cmdline_has("runstate=kvm"));
    phase_evtchn_fifo(fifo_optional);
    note("XEN-ABI-PASS %u checks (" KXEN_RT_BITS ")\n", checks_passed());
    return 0;
}
