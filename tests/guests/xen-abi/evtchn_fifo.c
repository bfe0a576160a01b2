/* FIFO event channels: EVTCHNOP_init_control with a control block, expand_array with an event
 * array page, event words (PENDING/MASKED/LINKED and link field), per-priority queue heads and
 * the ready word, set_priority, unmask relinking, busy ports, and reset back to 2-level. */
#include "abi.h"

#define BAD_PORT 4000u
#define Q_DEFAULT EVTCHN_FIFO_PRIORITY_DEFAULT
#define PENDING (1u << EVTCHN_FIFO_PENDING)
#define MASKED (1u << EVTCHN_FIFO_MASKED)
#define LINKED (1u << EVTCHN_FIFO_LINKED)

static volatile event_word_t *words(void) { return guest_page(PG_FIFO_ARRAY); }
static volatile struct evtchn_fifo_control_block *control(void) { return guest_page(PG_FIFO_CONTROL); }
static event_word_t word(evtchn_port_t port) { return __atomic_load_n(&words()[port], __ATOMIC_ACQUIRE); }
static void set_word(evtchn_port_t port, event_word_t w) { __atomic_store_n(&words()[port], w, __ATOMIC_RELEASE); }
static uint32_t head(unsigned q) { return control()->head[q]; }
static int ready(unsigned q) { return (control()->ready >> q) & 1; }

static long init_control(uint32_t vcpu, uint32_t offset, uint32_t *link_bits)
{
    struct evtchn_init_control op = {.control_gfn = guest_pfn(PG_FIFO_CONTROL), .offset = offset, .vcpu = vcpu};
    long rc = xen_event_channel_op(EVTCHNOP_init_control, &op);
    if (link_bits)
        *link_bits = op.link_bits;
    return rc;
}

static long expand(unsigned long gfn)
{
    struct evtchn_expand_array op = {.array_gfn = gfn};
    return xen_event_channel_op(EVTCHNOP_expand_array, &op);
}

static long set_priority(evtchn_port_t port, uint32_t priority)
{
    struct evtchn_set_priority op = {.port = port, .priority = priority};
    return xen_event_channel_op(EVTCHNOP_set_priority, &op);
}

static evtchn_port_t ipi(void)
{
    struct evtchn_bind_ipi op = {.vcpu = 0};
    expect_eq(xen_event_channel_op(EVTCHNOP_bind_ipi, &op), 0, "FIFO EVTCHNOP_bind_ipi");
    return op.port;
}

static void loopback(evtchn_port_t *a, evtchn_port_t *b)
{
    struct evtchn_alloc_unbound au = {.dom = DOMID_SELF, .remote_dom = DOMID_SELF};
    expect_eq(xen_event_channel_op(EVTCHNOP_alloc_unbound, &au), 0, "FIFO EVTCHNOP_alloc_unbound");
    struct evtchn_bind_interdomain bi = {.remote_dom = DOMID_SELF, .remote_port = au.port};
    expect_eq(xen_event_channel_op(EVTCHNOP_bind_interdomain, &bi), 0, "FIFO EVTCHNOP_bind_interdomain");
    *a = au.port;
    *b = bi.local_port;
}

/* Consumes queue q the way Linux does: take the ready word, walk from the head clearing
 * LINKED (and the link) and PENDING. Returns how many events it saw. */
static unsigned consume(unsigned q)
{
    __atomic_exchange_n(&control()->ready, 0, __ATOMIC_SEQ_CST);
    unsigned seen = 0;
    for (evtchn_port_t port = head(q); port != 0 && seen < 16; seen++) {
        event_word_t w = __atomic_fetch_and(&words()[port], ~(LINKED | EVTCHN_FIFO_LINK_MASK), __ATOMIC_SEQ_CST);
        __atomic_fetch_and(&words()[port], ~PENDING, __ATOMIC_SEQ_CST);
        port = w & EVTCHN_FIFO_LINK_MASK;
    }
    return seen;
}

/* Returns 0 if the phase must be skipped (fifo=optional and no FIFO on this transport). */
static int setup(int fifo_optional)
{
    memset(guest_page(PG_FIFO_CONTROL), 0, PAGE_SIZE);
    for (unsigned i = 0; i < PAGE_SIZE / sizeof(event_word_t); i++)
        set_word(i, MASKED);  /* as Linux: every event starts masked */
    long rc = init_control(0, 4, NULL);
    if (rc == -XEN_ENOSYS && fifo_optional) {
        note("xen-abi: FIFO phase skipped: EVTCHNOP_init_control returned -ENOSYS (fifo=optional)\n");
        return 0;
    }
    expect_eq(rc, -XEN_EINVAL, "EVTCHNOP_init_control(offset 4, misaligned)");
    expect_eq(init_control(1, 0, NULL), -XEN_ENOENT, "EVTCHNOP_init_control(vcpu 1)");
    uint32_t link_bits = 0;
    expect_eq(init_control(0, 0, &link_bits), 0, "EVTCHNOP_init_control(vcpu 0)");
    expect_eq(link_bits, EVTCHN_FIFO_LINK_BITS, "init_control reports link_bits");
    expect_eq(init_control(0, 0, NULL), -XEN_EINVAL, "EVTCHNOP_init_control twice on vcpu 0");
    expect_eq(expand(UNPOPULATED_GPFN), -XEN_EINVAL, "EVTCHNOP_expand_array(unpopulated gfn)");
    expect_eq(expand(guest_pfn(PG_FIFO_ARRAY)), 0, "EVTCHNOP_expand_array(first page)");
    return 1;
}

static void queueing(void)
{
    evtchn_port_t p1 = ipi(), a, b;
    l2_clear_upcall();
    expect_eq(evtchn_send(p1), 0, "FIFO EVTCHNOP_send(%u) while masked", p1);
    expect_eq(word(p1), PENDING | MASKED, "masked event word: PENDING, not LINKED");
    expect_true(head(Q_DEFAULT) == 0 && !ready(Q_DEFAULT) && !l2_upcall_pending(), "a masked event is not queued");
    expect_eq(evtchn_unmask(p1), 0, "FIFO EVTCHNOP_unmask(%u)", p1);
    expect_eq(word(p1), PENDING | LINKED, "unmask linked the pending event (link 0)");
    expect_eq(head(Q_DEFAULT), p1, "queue %u head", Q_DEFAULT);
    expect_true(ready(Q_DEFAULT) && l2_upcall_pending(), "queue %u ready and upcall pending", Q_DEFAULT);

    loopback(&a, &b);
    expect_eq(word(b), PENDING | MASKED, "bind_interdomain left the new local port pending");
    set_word(b, 0);  /* unmask it and drop that event */
    expect_eq(evtchn_send(a), 0, "FIFO EVTCHNOP_send(%u) to unmasked %u", a, b);
    expect_eq(word(b), PENDING | LINKED, "event word of %u: PENDING|LINKED", b);
    expect_eq(word(p1) & EVTCHN_FIFO_LINK_MASK, b, "the tail %u now links to %u", p1, b);
    expect_eq(head(Q_DEFAULT), p1, "the head stays at %u", p1);

    evtchn_port_t urgent = ipi();
    expect_eq(set_priority(urgent, EVTCHN_FIFO_PRIORITY_MAX), 0, "EVTCHNOP_set_priority(%u, 0)", urgent);
    set_word(urgent, 0);
    expect_eq(evtchn_send(urgent), 0, "FIFO EVTCHNOP_send(%u) at priority 0", urgent);
    expect_true(head(EVTCHN_FIFO_PRIORITY_MAX) == urgent && ready(EVTCHN_FIFO_PRIORITY_MAX),
                "priority 0 queue: head %u and ready", urgent);
    expect_eq(set_priority(urgent, EVTCHN_FIFO_PRIORITY_MIN + 1), -XEN_EINVAL, "EVTCHNOP_set_priority(16)");
    expect_eq(set_priority(BAD_PORT, 3), -XEN_EINVAL, "EVTCHNOP_set_priority(port %u)", BAD_PORT);

    expect_eq(consume(Q_DEFAULT), 2, "queue %u held two events", Q_DEFAULT);
    consume(EVTCHN_FIFO_PRIORITY_MAX);
    l2_clear_upcall();
    expect_eq(evtchn_send(a), 0, "FIFO EVTCHNOP_send(%u) after the queue drained", a);
    expect_true(head(Q_DEFAULT) == b && ready(Q_DEFAULT) && l2_upcall_pending(),
                "an unlinked tail means an empty queue: %u is the new head", b);

    evtchn_status_t st;
    expect_eq(evtchn_status_of(b, &st), 0, "FIFO EVTCHNOP_status(%u)", b);
    expect_eq(st.status, EVTCHNSTAT_interdomain, "FIFO port %u is interdomain", b);
    expect_eq(evtchn_close(b), 0, "FIFO EVTCHNOP_close(%u) while LINKED", b);
    expect_eq(word(b) & (PENDING | LINKED), LINKED, "close cleared PENDING, the guest still holds LINKED");
    evtchn_port_t fresh = ipi();
    expect_ne(fresh, b, "a port still LINKED in a queue is not reused");
}

void phase_evtchn_fifo(int fifo_optional)
{
    note("xen-abi: FIFO event channels\n");
    if (!setup(fifo_optional))
        return;
    queueing();
    expect_eq(evtchn_reset_dom(DOMID_SELF), 0, "EVTCHNOP_reset from FIFO");
    struct evtchn_set_priority sp = {.port = 1, .priority = 3};
    expect_eq(xen_event_channel_op(EVTCHNOP_set_priority, &sp), -XEN_ENOSYS, "after reset: back to 2-level");
}
