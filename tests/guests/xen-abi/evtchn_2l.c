/* 2-level event channels: loopback interdomain ports, IPIs and VIRQs, the pending/mask bits in
 * shared_info and the selector in vcpu_info, EVTCHNOP_status/unmask/close/bind_vcpu/reset,
 * and Xen's errors for bad ports, vCPUs, VIRQs and domains. */
#include "abi.h"

#define BAD_PORT 4000u      /* below the 2-level limit, far above any port in use */
#define NO_VCPU 1u          /* the guest runs with one vCPU */
#define UNKNOWN_DOMID (DOMID_FIRST_RESERVED - 1)

static evtchn_status_t st;

static void expect_status(evtchn_port_t port, uint32_t want, const char *what)
{
    expect_eq(evtchn_status_of(port, &st), 0, "EVTCHNOP_status(%u) %s", port, what);
    expect_eq(st.status, want, "port %u status %s", port, what);
}

static evtchn_port_t alloc_unbound(void)
{
    struct evtchn_alloc_unbound op = {.dom = DOMID_SELF, .remote_dom = DOMID_SELF};
    expect_eq(xen_event_channel_op(EVTCHNOP_alloc_unbound, &op), 0, "EVTCHNOP_alloc_unbound");
    expect_ne(op.port, 0, "alloc_unbound gave a port");
    return op.port;
}

static evtchn_port_t bind_loopback(evtchn_port_t remote)
{
    struct evtchn_bind_interdomain op = {.remote_dom = DOMID_SELF, .remote_port = remote};
    expect_eq(xen_event_channel_op(EVTCHNOP_bind_interdomain, &op), 0, "EVTCHNOP_bind_interdomain to %u", remote);
    expect_true(op.local_port != 0 && op.local_port != remote, "bind_interdomain gave a new port %u", op.local_port);
    return op.local_port;
}

static long bind_ipi(uint32_t vcpu, evtchn_port_t *port)
{
    struct evtchn_bind_ipi op = {.vcpu = vcpu};
    long rc = xen_event_channel_op(EVTCHNOP_bind_ipi, &op);
    *port = op.port;
    return rc;
}

static long bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port)
{
    struct evtchn_bind_virq op = {.virq = virq, .vcpu = vcpu};
    long rc = xen_event_channel_op(EVTCHNOP_bind_virq, &op);
    *port = op.port;
    return rc;
}

static long bind_vcpu(evtchn_port_t port, uint32_t vcpu)
{
    struct evtchn_bind_vcpu op = {.port = port, .vcpu = vcpu};
    return xen_event_channel_op(EVTCHNOP_bind_vcpu, &op);
}

/* alloc_unbound + bind_interdomain on ourselves: a connected pair a <-> b. */
static void loopback(evtchn_port_t *a_out, evtchn_port_t *b_out)
{
    evtchn_port_t a = alloc_unbound();
    expect_status(a, EVTCHNSTAT_unbound, "after alloc_unbound");
    expect_eq(st.u.unbound.dom, abi_domid(), "unbound port %u waits for our domid", a);
    evtchn_port_t b = bind_loopback(a);
    expect_status(a, EVTCHNSTAT_interdomain, "of the remote end");
    expect_eq(st.u.interdomain.dom, abi_domid(), "remote end's peer domain");
    expect_eq(st.u.interdomain.port, b, "remote end's peer port");
    expect_status(b, EVTCHNSTAT_interdomain, "of the local end");
    expect_eq(st.u.interdomain.port, a, "local end's peer port");
    expect_eq(st.vcpu, 0, "local end notifies vcpu 0");
    /* Xen raises the new local port, in case notifications were lost while unbound. */
    expect_true(l2_pending(b), "bind_interdomain left local port %u pending", b);
    *a_out = a;
    *b_out = b;
}

static void masked_delivery(evtchn_port_t a, evtchn_port_t b)
{
    l2_clear_pending(b);
    l2_clear_upcall();
    expect_true(l2_masked(b), "port %u is masked", b);
    expect_eq(evtchn_send(a), 0, "EVTCHNOP_send(%u) to a masked peer", a);
    expect_true(l2_pending(b), "masked port %u pending after send", b);
    expect_true(!l2_sel(b) && !l2_upcall_pending(), "masked port %u: no selector, no upcall", b);
    expect_eq(evtchn_unmask(b), 0, "EVTCHNOP_unmask(%u)", b);
    expect_true(!l2_masked(b), "unmask cleared the mask bit of %u", b);
    expect_true(l2_sel(b) && l2_upcall_pending(), "unmask of pending %u raised selector and upcall", b);

    l2_clear_pending(b);
    l2_clear_upcall();
    expect_eq(evtchn_send(a), 0, "EVTCHNOP_send(%u) to an unmasked peer", a);
    expect_true(l2_pending(b) && l2_sel(b) && l2_upcall_pending(), "unmasked %u: pending, selector, upcall", b);
    l2_clear_upcall();
    expect_eq(evtchn_send(a), 0, "EVTCHNOP_send(%u) again", a);
    expect_true(l2_pending(b) && !l2_sel(b), "an already pending port does not raise the selector again");

    l2_clear_pending(a);
    expect_eq(evtchn_send(b), 0, "EVTCHNOP_send(%u) back", b);
    expect_true(l2_pending(a), "loopback works both ways (%u pending)", a);
    l2_set_mask(b);
    l2_clear_upcall();
}

static void ipi_and_virq(evtchn_port_t *ipi_out, evtchn_port_t *virq_out)
{
    evtchn_port_t ipi, virq, other;
    expect_eq(bind_ipi(0, &ipi), 0, "EVTCHNOP_bind_ipi(vcpu 0)");
    expect_status(ipi, EVTCHNSTAT_ipi, "after bind_ipi");
    l2_clear_pending(ipi);
    expect_eq(evtchn_send(ipi), 0, "EVTCHNOP_send(ipi %u)", ipi);
    expect_true(l2_pending(ipi), "IPI port %u pending after send", ipi);
    expect_eq(bind_ipi(NO_VCPU, &other), -XEN_ENOENT, "EVTCHNOP_bind_ipi(vcpu %u)", NO_VCPU);

    expect_eq(bind_virq(VIRQ_DEBUG, 0, &virq), 0, "EVTCHNOP_bind_virq(VIRQ_DEBUG)");
    expect_status(virq, EVTCHNSTAT_virq, "after bind_virq");
    expect_eq(st.u.virq, VIRQ_DEBUG, "port %u carries VIRQ_DEBUG", virq);
    expect_eq(bind_virq(VIRQ_DEBUG, 0, &other), -XEN_EEXIST, "EVTCHNOP_bind_virq(VIRQ_DEBUG) twice");
    expect_eq(bind_virq(NR_VIRQS, 0, &other), -XEN_EINVAL, "EVTCHNOP_bind_virq(NR_VIRQS)");
    expect_eq(bind_virq(VIRQ_CON_RING, 1, &other), -XEN_EINVAL, "EVTCHNOP_bind_virq(global VIRQ, vcpu 1)");
    expect_eq(bind_virq(VIRQ_DEBUG, NO_VCPU, &other), -XEN_ENOENT, "EVTCHNOP_bind_virq(VIRQ_DEBUG, vcpu %u)", NO_VCPU);
    expect_eq(evtchn_send(virq), -XEN_EINVAL, "EVTCHNOP_send on a VIRQ port");
    *ipi_out = ipi;
    *virq_out = virq;
}

static void rebinding(evtchn_port_t a, evtchn_port_t ipi, evtchn_port_t virq)
{
    expect_eq(bind_vcpu(a, 0), 0, "EVTCHNOP_bind_vcpu(interdomain %u, vcpu 0)", a);
    expect_eq(bind_vcpu(a, NO_VCPU), -XEN_ENOENT, "EVTCHNOP_bind_vcpu(%u, vcpu %u)", a, NO_VCPU);
    expect_eq(bind_vcpu(ipi, 0), -XEN_EINVAL, "EVTCHNOP_bind_vcpu(IPI port)");
    expect_eq(bind_vcpu(virq, 0), -XEN_EINVAL, "EVTCHNOP_bind_vcpu(per-vCPU VIRQ port)");
    expect_eq(bind_vcpu(BAD_PORT, 0), -XEN_EINVAL, "EVTCHNOP_bind_vcpu(port %u)", BAD_PORT);
}

static void bad_ports_and_domains(evtchn_port_t ipi)
{
    expect_eq(evtchn_send(BAD_PORT), -XEN_EINVAL, "EVTCHNOP_send(port %u)", BAD_PORT);
    expect_eq(evtchn_close(BAD_PORT), -XEN_EINVAL, "EVTCHNOP_close(port %u)", BAD_PORT);
    expect_eq(evtchn_unmask(BAD_PORT), -XEN_EINVAL, "EVTCHNOP_unmask(port %u)", BAD_PORT);
    expect_eq(evtchn_status_of(BAD_PORT, &st), -XEN_EINVAL, "EVTCHNOP_status(port %u)", BAD_PORT);
    expect_eq(evtchn_close(0), -XEN_EINVAL, "EVTCHNOP_close(port 0, reserved)");
    st.dom = UNKNOWN_DOMID;
    st.port = ipi;
    expect_eq(xen_event_channel_op(EVTCHNOP_status, &st), -XEN_ESRCH, "EVTCHNOP_status of an unknown domain");
    struct evtchn_alloc_unbound au = {.dom = UNKNOWN_DOMID, .remote_dom = DOMID_SELF};
    expect_eq(xen_event_channel_op(EVTCHNOP_alloc_unbound, &au), -XEN_ESRCH,
              "EVTCHNOP_alloc_unbound in an unknown domain");
    struct evtchn_bind_interdomain bi = {.remote_dom = DOMID_SELF, .remote_port = ipi};
    expect_eq(xen_event_channel_op(EVTCHNOP_bind_interdomain, &bi), -XEN_EINVAL,
              "EVTCHNOP_bind_interdomain to a port that is not unbound");
    bi.remote_dom = UNKNOWN_DOMID;
    expect_eq(xen_event_channel_op(EVTCHNOP_bind_interdomain, &bi), -XEN_ESRCH,
              "EVTCHNOP_bind_interdomain to an unknown domain");
    struct evtchn_expand_array ea = {.array_gfn = guest_pfn(PG_FIFO_ARRAY)};
    expect_eq(xen_event_channel_op(EVTCHNOP_expand_array, &ea), -XEN_EOPNOTSUPP,
              "EVTCHNOP_expand_array without FIFO");
    struct evtchn_set_priority sp = {.port = ipi, .priority = 3};
    expect_eq(xen_event_channel_op(EVTCHNOP_set_priority, &sp), -XEN_ENOSYS, "EVTCHNOP_set_priority without FIFO");
}

static void closing(evtchn_port_t a, evtchn_port_t b)
{
    expect_eq(evtchn_send(a), 0, "EVTCHNOP_send(%u) before close", a);
    expect_true(l2_pending(b), "port %u pending before close", b);
    expect_eq(evtchn_close(b), 0, "EVTCHNOP_close(%u)", b);
    expect_true(!l2_pending(b), "close cleared port %u's pending bit", b);
    expect_status(b, EVTCHNSTAT_closed, "after close");
    expect_status(a, EVTCHNSTAT_unbound, "of the peer after close");
    expect_eq(st.u.unbound.dom, abi_domid(), "the peer waits for our domid again");
    expect_eq(evtchn_send(a), 0, "EVTCHNOP_send on an unbound port (dropped)");
    expect_eq(evtchn_close(b), -XEN_EINVAL, "EVTCHNOP_close(%u) twice", b);
    expect_eq(evtchn_send(b), -XEN_EINVAL, "EVTCHNOP_send on a closed port");
}

static void reset(evtchn_port_t a, evtchn_port_t ipi, evtchn_port_t virq)
{
    expect_eq(evtchn_reset_dom(UNKNOWN_DOMID), -XEN_ESRCH, "EVTCHNOP_reset of an unknown domain");
    expect_eq(evtchn_reset_dom(DOMID_SELF), 0, "EVTCHNOP_reset(DOMID_SELF)");
    expect_status(a, EVTCHNSTAT_closed, "of the unbound port after reset");
    expect_status(ipi, EVTCHNSTAT_closed, "of the IPI port after reset");
    expect_status(virq, EVTCHNSTAT_closed, "of the VIRQ port after reset");
    evtchn_port_t again;
    expect_eq(bind_virq(VIRQ_DEBUG, 0, &again), 0, "EVTCHNOP_bind_virq(VIRQ_DEBUG) after reset");
    expect_eq(evtchn_close(again), 0, "EVTCHNOP_close(%u)", again);
}

void phase_evtchn_2l(void)
{
    note("xen-abi: 2-level event channels\n");
    l2_mask_all();
    l2_clear_upcall();
    evtchn_port_t a, b, ipi, virq;
    loopback(&a, &b);
    masked_delivery(a, b);
    ipi_and_virq(&ipi, &virq);
    rebinding(a, ipi, virq);
    bad_ports_and_domains(ipi);
    closing(a, b);
    reset(a, ipi, virq);
}
