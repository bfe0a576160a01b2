/* Hypercall shorthands of the xen-abi checks, shared with the hostile-dos guest's XenStore client. */
#include "abi.h"

long evtchn_send(evtchn_port_t port)
{
    struct evtchn_send op = {.port = port};
    return xen_event_channel_op(EVTCHNOP_send, &op);
}

long evtchn_close(evtchn_port_t port)
{
    struct evtchn_close op = {.port = port};
    return xen_event_channel_op(EVTCHNOP_close, &op);
}

long evtchn_unmask(evtchn_port_t port)
{
    struct evtchn_unmask op = {.port = port};
    return xen_event_channel_op(EVTCHNOP_unmask, &op);
}

long evtchn_status_of(evtchn_port_t port, evtchn_status_t *st)
{
    memset(st, 0, sizeof(*st));
    st->dom = DOMID_SELF;
    st->port = port;
    return xen_event_channel_op(EVTCHNOP_status, st);
}

long evtchn_reset_dom(domid_t dom)
{
    struct evtchn_reset op = {.dom = dom};
    return xen_event_channel_op(EVTCHNOP_reset, &op);
}

long hvm_get_param(uint32_t index, uint64_t *value)
{
    struct xen_hvm_param p = {.domid = DOMID_SELF, .index = index, .value = 0};
    long rc = xen_hvm_op(HVMOP_get_param, &p);
    *value = p.value;
    return rc;
}
