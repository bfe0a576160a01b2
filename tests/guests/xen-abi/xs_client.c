/* The ring side of the XenStore client: copy requests into req[], notify over the store event
 * channel, poll rsp[] for replies (yielding to the hypervisor while waiting). */
#include "xs_client.h"

#define MAX_EVENTS 8
#define EVENT_PATH 128
#define EVENT_TOKEN 32
#define WAIT_YIELDS 200000

struct xs_event {
    char path[EVENT_PATH];
    char token[EVENT_TOKEN];
};

static volatile struct xenstore_domain_interface *intf;
static evtchn_port_t store_port;
static uint32_t next_req_id = 1;
static struct xs_event events[MAX_EVENTS];
static unsigned nr_events;

volatile struct xenstore_domain_interface *xs_ring(void) { return intf; }
evtchn_port_t xs_port(void) { return store_port; }

void xs_payload_init(struct xs_payload *p) { p->len = 0; }

void xs_raw(struct xs_payload *p, const char *s)
{
    size_t n = rt_strlen(s);
    if (p->len + n > sizeof(p->buf))
        abi_fail("xenstore payload too long for the client");
    memcpy(p->buf + p->len, s, n);
    p->len += (uint32_t)n;
}

void xs_arg(struct xs_payload *p, const char *s)
{
    xs_raw(p, s);
    if (p->len + 1 > sizeof(p->buf))
        abi_fail("xenstore payload too long for the client");
    p->buf[p->len++] = '\0';
}

void xs_attach(void)
{
    uint64_t pfn = 0, port = 0;
    expect_eq(hvm_get_param(HVM_PARAM_STORE_PFN, &pfn), 0, "HVMOP_get_param(STORE_PFN)");
    expect_ne((long)pfn, 0, "HVM_PARAM_STORE_PFN is set");
    expect_eq(hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port), 0, "HVMOP_get_param(STORE_EVTCHN)");
    expect_ne((long)port, 0, "HVM_PARAM_STORE_EVTCHN is set");
    intf = (volatile struct xenstore_domain_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
    store_port = (evtchn_port_t)port;
}

static void notify(void)
{
    long rc = evtchn_send(store_port);
    if (rc != 0)
        abi_fail("EVTCHNOP_send(store port %u) got %ld want 0", store_port, rc);
}

static uint32_t load(volatile uint32_t *idx) { return __atomic_load_n(idx, __ATOMIC_ACQUIRE); }
static void store(volatile uint32_t *idx, uint32_t v) { __atomic_store_n(idx, v, __ATOMIC_RELEASE); }

static void ring_write(const char *data, uint32_t len)
{
    uint32_t done = 0;
    for (unsigned tries = 0; done < len; tries++) {
        uint32_t cons = load(&intf->req_cons), prod = intf->req_prod;
        uint32_t used = prod - cons;
        if (used > XENSTORE_RING_SIZE)
            abi_fail("xenstore req ring indexes are inconsistent (prod %u cons %u)", prod, cons);
        if (used == XENSTORE_RING_SIZE) {
            if (tries > WAIT_YIELDS)
                abi_fail("xenstore request ring stays full");
            notify();
            xen_yield();
            continue;
        }
        uint32_t chunk = XENSTORE_RING_SIZE - used;
        uint32_t to_end = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
        if (chunk > to_end)
            chunk = to_end;
        if (chunk > len - done)
            chunk = len - done;
        for (uint32_t i = 0; i < chunk; i++)
            intf->req[MASK_XENSTORE_IDX(prod + i)] = data[done + i];
        store(&intf->req_prod, prod + chunk);
        done += chunk;
    }
    notify();
}

/* Waits until `len` response bytes are there, then copies them out and frees the space. */
static void ring_read(char *out, uint32_t len)
{
    for (unsigned tries = 0;; tries++) {
        uint32_t avail = load(&intf->rsp_prod) - intf->rsp_cons;
        if (avail > XENSTORE_RING_SIZE)
            abi_fail("xenstore rsp ring indexes are inconsistent (avail %u)", avail);
        if (avail >= len)
            break;
        if (tries > WAIT_YIELDS)
            abi_fail("no xenstore reply after %u yields (have %u of %u bytes)", tries, avail, len);
        xen_yield();
    }
    uint32_t cons = intf->rsp_cons;
    for (uint32_t i = 0; i < len; i++)
        out[i] = intf->rsp[MASK_XENSTORE_IDX(cons + i)];
    store(&intf->rsp_cons, cons + len);
    notify();  /* the server may be waiting for space */
}

static void read_message(struct xsd_sockmsg *hdr, struct xs_reply *reply)
{
    ring_read((char *)hdr, sizeof(*hdr));
    if (hdr->len > XENSTORE_PAYLOAD_MAX)
        abi_fail("xenstore message of %u bytes (max %u)", hdr->len, XENSTORE_PAYLOAD_MAX);
    /* Read in ring-sized pieces: a payload may be larger than the ring. */
    for (uint32_t off = 0; off < hdr->len;) {
        uint32_t n = hdr->len - off;
        if (n > XENSTORE_RING_SIZE / 2)
            n = XENSTORE_RING_SIZE / 2;
        ring_read(reply->body + off, n);
        off += n;
    }
    reply->body[hdr->len] = '\0';
    reply->type = hdr->type;
    reply->len = hdr->len;
}

static void queue_event(const struct xs_reply *ev)
{
    if (nr_events == MAX_EVENTS)
        abi_fail("more than %u xenstore watch events queued", MAX_EVENTS);
    size_t path_len = rt_strlen(ev->body);
    if (path_len + 1 >= ev->len || path_len >= EVENT_PATH)
        abi_fail("malformed XS_WATCH_EVENT (%u bytes)", ev->len);
    const char *token = ev->body + path_len + 1;
    if (rt_strlen(token) >= EVENT_TOKEN)
        abi_fail("XS_WATCH_EVENT token too long");
    memcpy(events[nr_events].path, ev->body, path_len + 1);
    memcpy(events[nr_events].token, token, rt_strlen(token) + 1);
    nr_events++;
}

void xs_request(uint32_t type, uint32_t tx, const struct xs_payload *p, struct xs_reply *reply)
{
    struct xsd_sockmsg hdr = {.type = type, .req_id = next_req_id++, .tx_id = tx, .len = p->len};
    ring_write((const char *)&hdr, sizeof(hdr));
    ring_write(p->buf, p->len);
    for (;;) {
        struct xsd_sockmsg in;
        read_message(&in, reply);
        if (in.type == XS_WATCH_EVENT) {
            queue_event(reply);
            continue;
        }
        if (in.req_id != hdr.req_id)
            abi_fail("xenstore reply for request %u, want %u", in.req_id, hdr.req_id);
        return;
    }
}

void xs_expect_ok(uint32_t type, uint32_t tx, const struct xs_payload *p, const char *what)
{
    static struct xs_reply reply;
    xs_request(type, tx, p, &reply);
    if (reply.type != type)
        abi_fail("%s: got reply type %u (\"%s\") want %u", what, reply.type, reply.body, type);
    expect_str(reply.body, "OK", "%s", what);
}

void xs_expect_error(uint32_t type, uint32_t tx, const struct xs_payload *p, const char *err,
                     const char *what)
{
    static struct xs_reply reply;
    xs_request(type, tx, p, &reply);
    if (reply.type != XS_ERROR)
        abi_fail("%s: got reply type %u (\"%s\") want error %s", what, reply.type, reply.body, err);
    expect_str(reply.body, err, "%s", what);
}

unsigned xs_events_queued(void) { return nr_events; }

int xs_take_event(char *path, size_t path_size, char *token, size_t token_size)
{
    if (nr_events == 0)
        return 0;
    if (rt_strlen(events[0].path) >= path_size || rt_strlen(events[0].token) >= token_size)
        abi_fail("watch event does not fit the caller's buffer");
    memcpy(path, events[0].path, rt_strlen(events[0].path) + 1);
    memcpy(token, events[0].token, rt_strlen(events[0].token) + 1);
    for (unsigned i = 1; i < nr_events; i++)
        events[i - 1] = events[i];
    nr_events--;
    return 1;
}

void xs_sync(void)
{
    static struct xs_reply reply;
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, "domid");
    xs_request(XS_READ, 0, &p, &reply);
    if (reply.type != XS_READ)
        abi_fail("sync read of domid failed: %s", reply.body);
}
