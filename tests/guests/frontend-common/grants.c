/* Grants (v1, frame 0 placed at GNTTAB_GPFN) and polled event channels (2-level pending bits in
 * the guest's shared_info, every port masked) for the frontend guests. */
#include "frontend.h"

static struct shared_info *shared;

static grant_entry_v1_t *entry(grant_ref_t ref)
{
    return (grant_entry_v1_t *)(uintptr_t)(GNTTAB_GPFN << PAGE_SHIFT) + ref;
}

void gnttab_init(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GNTTAB_GPFN};
    long rc = xen_memory_op(XENMEM_add_to_physmap, &xatp);
    if (rc != 0)
        fatal("add_to_physmap(grant table frame 0) returned %ld", rc);
}

void grant_frame(grant_ref_t ref, unsigned long pfn, int readonly)
{
    grant_entry_v1_t *e = entry(ref);
    e->domid = 0;
    e->frame = (uint32_t)pfn;
    /* The flags last: they make the entry valid. */
    __atomic_store_n(&e->flags, (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0)), __ATOMIC_RELEASE);
}

void end_grant(grant_ref_t ref) { __atomic_store_n(&entry(ref)->flags, 0, __ATOMIC_SEQ_CST); }

uint16_t grant_flags(grant_ref_t ref) { return __atomic_load_n(&entry(ref)->flags, __ATOMIC_ACQUIRE); }

void map_shared_info(void *page)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0, .gpfn = (uintptr_t)page >> PAGE_SHIFT};
    long rc = xen_memory_op(XENMEM_add_to_physmap, &xatp);
    if (rc != 0)
        fatal("add_to_physmap(shared_info) returned %ld", rc);
    shared = (struct shared_info *)page;
    for (unsigned i = 0; i < EVTCHN_WORD_BITS; i++)
        __atomic_store_n(&shared->evtchn_mask[i], ~(xen_ulong_t)0, __ATOMIC_SEQ_CST);
}

static xen_ulong_t bit_of(evtchn_port_t port) { return (xen_ulong_t)1 << (port % EVTCHN_WORD_BITS); }

int port_pending(evtchn_port_t port)
{
    return (__atomic_load_n(&shared->evtchn_pending[port / EVTCHN_WORD_BITS], __ATOMIC_ACQUIRE) & bit_of(port)) != 0;
}

void port_clear(evtchn_port_t port)
{
    __atomic_and_fetch(&shared->evtchn_pending[port / EVTCHN_WORD_BITS], ~bit_of(port), __ATOMIC_SEQ_CST);
}

evtchn_port_t alloc_port_for_dom0(void)
{
    struct evtchn_alloc_unbound op = {.dom = DOMID_SELF, .remote_dom = 0};
    long rc = xen_event_channel_op(EVTCHNOP_alloc_unbound, &op);
    if (rc != 0)
        fatal("EVTCHNOP_alloc_unbound(remote dom0) returned %ld", rc);
    return op.port;
}

void kick(evtchn_port_t port)
{
    long rc = evtchn_send(port);
    if (rc != 0)
        fatal("EVTCHNOP_send(%u) returned %ld", port, rc);
}
