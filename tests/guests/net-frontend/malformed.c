/* vif 0's hostile set: malformed tx packets, each answered with the status kxen's decoder
 * (devices/net/tx_decoder.cpp) or its transmit path gives; then the fatal ones (an extra of an
 * unknown type, a wild req_prod), after which the backend answers nothing more on the ring. */
#include "netfront.h"

#define SILENCE_MS 500u
#define MAX_SLOTS 20u
#define OK NETIF_RSP_OKAY
#define ERR NETIF_RSP_ERROR
#define NUL NETIF_RSP_NULL

/* One packet under construction: its slots and the status each one's response must carry. */
struct packet {
    unsigned n;
    netif_tx_request_t slot[MAX_SLOTS];
    int16_t want[MAX_SLOTS];
    int extra[MAX_SLOTS];
};

static void add(struct vif *v, struct packet *p, grant_ref_t gref, uint16_t offset, uint16_t size, uint16_t flags,
                int16_t want)
{
    netif_tx_request_t r = {.gref = gref, .offset = offset, .flags = flags, .id = v->next_id++, .size = size};
    p->slot[p->n] = r;
    p->want[p->n] = want;
    p->extra[p->n++] = 0;
}

static void add_extra(struct packet *p, uint8_t type, uint8_t gso_type, uint16_t mss)
{
    netif_extra_info_t e;
    memset(&e, 0, sizeof(e));
    e.type = type;
    e.u.gso.type = gso_type;
    e.u.gso.size = mss;
    memset(&p->slot[p->n], 0, sizeof(p->slot[p->n]));
    memcpy(&p->slot[p->n], &e, sizeof(e));
    p->want[p->n] = NUL;
    p->extra[p->n++] = 1;
}

static void put(struct vif *v, const struct packet *p)
{
    for (unsigned i = 0; i < p->n; i++)
        tx_put(v, &p->slot[i]);
}

/* Statuses as " S" each, a run of equal ones as " S*N" (" none" for a missing response). */
static void format_statuses(char *out, size_t size, const int *status, unsigned n)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned i = 0, run; i < n && len + 12 < size; i += run) {
        for (run = 1; i + run < n && status[i + run] == status[i]; run++)
            ;
        const char *fmt = status[i] == 99 ? " none" : run > 1 ? " %d*%u" : " %d";
        len += (size_t)rt_snprintf(out + len, size - len, fmt, status[i], run);
    }
}

/* Every slot of the packets answered in ring order, data slots with their own id. */
static void expect(struct vif *v, const struct packet *p, unsigned count, const char *what)
{
    int got[3 * MAX_SLOTS], want[3 * MAX_SLOTS];
    unsigned n = 0;
    int ok = 1;
    for (unsigned k = 0; k < count; k++) {
        for (unsigned i = 0; i < p[k].n && n < 3 * MAX_SLOTS; i++, n++) {
            netif_tx_response_t rsp = {.id = 0xffff, .status = 99};
            ok &= tx_wait(v, &rsp, 10000) && rsp.status == p[k].want[i] && (p[k].extra[i] || rsp.id == p[k].slot[i].id);
            got[n] = rsp.status;
            want[n] = p[k].want[i];
        }
    }
    char got_text[48], want_text[48];
    format_statuses(got_text, sizeof(got_text), got, n);
    format_statuses(want_text, sizeof(want_text), want, n);
    check_true(ok, "vif 0: %s: got%s, want%s", what, got_text, want_text);
}

static void one(struct vif *v, const struct packet *p, const char *what)
{
    put(v, p);
    tx_push(v);
    expect(v, p, 1, what);
}

/* The frame (a valid ARP request at offset 0 of tx page 0) cut into `slots` slots: the first
 * holds what the others (1 byte each) leave. */
static struct packet split(struct vif *v, unsigned slots, int16_t want)
{
    struct packet p = {.n = 0};
    const uint16_t first = (uint16_t)(ARP_LEN - (slots - 1));
    add(v, &p, tx_ref(v, 0), 0, ARP_LEN, slots > 1 ? NETTXF_more_data : 0, want);
    for (unsigned i = 1; i < slots; i++)
        add(v, &p, tx_ref(v, 0), (uint16_t)(first + i - 1), 1, i + 1 < slots ? NETTXF_more_data : 0, want);
    return p;
}

static struct packet single(struct vif *v, grant_ref_t gref, uint16_t offset, uint16_t size, int16_t want)
{
    struct packet p = {.n = 0};
    add(v, &p, gref, offset, size, 0, want);
    return p;
}

static struct packet with_extra(struct vif *v, uint16_t flags, uint8_t type, uint8_t gso_type, uint16_t mss,
                                int16_t want)
{
    struct packet p = {.n = 0};
    add(v, &p, tx_ref(v, 0), 0, ARP_LEN, (uint16_t)(flags | NETTXF_extra_info), want);
    add_extra(&p, type, gso_type, mss);
    return p;
}

static void grants_and_sizes(struct vif *v)
{
    struct packet p = single(v, tx_ref(v, 0), 0, ARP_LEN, OK);
    one(v, &p, "a well-formed ARP request (no rx buffer to take the reply)");
    p = single(v, REF_BEYOND, 0, ARP_LEN, ERR);
    one(v, &p, "gref 100000 (beyond the grant table)");
    p = single(v, REF_UNGRANTED, 0, ARP_LEN, ERR);
    one(v, &p, "gref 300 (never granted)");
    p = single(v, tx_ref(v, 0), 0, 10, ERR);
    one(v, &p, "a 10-byte packet (shorter than an Ethernet header)");
    /* Linux's netback disables the vif for a slot past its page; kxen drops the packet only. */
    p = single(v, tx_ref(v, 0), 4090, ARP_LEN, ERR);
    one(v, &p, "offset 4090 + size 42 (past the page)");
    p = (struct packet){.n = 0};
    add(v, &p, tx_ref(v, 0), 0, ARP_LEN, NETTXF_more_data, ERR);
    add(v, &p, tx_ref(v, 1), 0, 100, 0, ERR);
    one(v, &p, "first slot's size 42, smaller than the following 100");
    p = (struct packet){.n = 0};
    add(v, &p, tx_ref(v, 0), 0, 6000, NETTXF_more_data, ERR);
    add(v, &p, tx_ref(v, 1), 0, 5000, 0, ERR);
    one(v, &p, "a fragment of 5000 bytes (past its page)");
    p = (struct packet){.n = 0};
    add(v, &p, tx_ref(v, 0), 0, ARP_LEN, NETTXF_more_data, OK);
    add(v, &p, tx_ref(v, 1), 0, 0, 0, OK);
    one(v, &p, "a zero-size fragment after the whole frame");
}

/* XEN_NETIF_NR_SLOTS_MIN slots are served; 20 are dropped by both kxen and netback (19 and 21
 * are not asserted: netback serves 19 and drops 21, kxen drops 19 and disables the ring at 21). */
static void slot_counts(struct vif *v)
{
    struct packet p = split(v, XEN_NETIF_NR_SLOTS_MIN, OK);
    one(v, &p, "an ARP frame in 18 slots (XEN_NETIF_NR_SLOTS_MIN)");
    p = split(v, 20, ERR);
    one(v, &p, "an ARP frame in 20 slots (more than XEN_NETBK_LEGACY_SLOTS_MAX)");
}

/* kxen offers no GSO on a --net user NIC; netback would set GSO up and drop the frame later. */
static void extras(struct vif *v)
{
    const uint8_t gso = XEN_NETIF_EXTRA_TYPE_GSO;
    struct packet p = with_extra(v, NETTXF_csum_blank, gso, XEN_NETIF_GSO_TYPE_TCPV4, 1400, ERR);
    one(v, &p, "GSO TCPv4 extra on an ARP frame (not TCP)");
    p = with_extra(v, 0, gso, XEN_NETIF_GSO_TYPE_TCPV4, 1400, ERR);
    one(v, &p, "GSO extra without NETTXF_csum_blank");
    p = with_extra(v, NETTXF_csum_blank, gso, 7, 1400, ERR);
    one(v, &p, "GSO extra of GSO type 7");
    p = with_extra(v, NETTXF_csum_blank, gso, XEN_NETIF_GSO_TYPE_TCPV4, 0, ERR);
    one(v, &p, "GSO extra with an MSS of 0");
    p = with_extra(v, 0, XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0, 0, OK);
    one(v, &p, "a multicast-add extra (ignored, the frame sent)");
}

/* Three packets before one kick: the bad one fails alone. */
static void mixed_batch(struct vif *v)
{
    struct packet p[3] = {single(v, tx_ref(v, 0), 0, ARP_LEN, OK), single(v, REF_BEYOND, 0, ARP_LEN, ERR),
                          single(v, tx_ref(v, 0), 0, ARP_LEN, OK)};
    for (unsigned i = 0; i < 3; i++)
        put(v, &p[i]);
    tx_push(v);
    expect(v, p, 3, "batch good, bad grant, good");
}

void malformed_checks(struct vif *v)
{
    arp_request(v, tx_page(v, 0));
    grants_and_sizes(v);
    slot_counts(v);
    extras(v);
    mixed_batch(v);
    check_eq(__atomic_load_n(&v->rx->rsp_prod, __ATOMIC_ACQUIRE), 0,
             "vif 0: no rx response without rx buffers (the replies were dropped)");
}

/* After a fatal slot the ring gets no response, not even to a well-formed packet after it. */
static void expect_silence(struct vif *v, const char *what)
{
    const RING_IDX rsp_before = v->tx_cons;
    netif_tx_response_t rsp;
    check_true(!tx_wait(v, &rsp, SILENCE_MS), "vif 0: %s: no response within %u ms", what, SILENCE_MS);
    struct packet p = single(v, tx_ref(v, 0), 0, ARP_LEN, OK);
    put(v, &p);
    tx_push(v);
    check_true(!tx_wait(v, &rsp, SILENCE_MS), "vif 0: after %s, a well-formed packet gets no response", what);
    check_eq(__atomic_load_n(&v->tx->rsp_prod, __ATOMIC_ACQUIRE), rsp_before, "vif 0: rsp_prod unchanged after %s",
             what);
}

void fatal_extra(struct vif *v)
{
    struct packet p = with_extra(v, 0, 9, 0, 0, NUL);
    put(v, &p);
    tx_push(v);
    expect_silence(v, "an extra of type 9");
}

void wild_producer(struct vif *v)
{
    __atomic_store_n(&v->tx->req_prod, v->tx_prod + 0x10000u, __ATOMIC_SEQ_CST);
    kick(v->port);
    expect_silence(v, "a wild req_prod (+65536)");
    char state[8] = "?", path[128];
    rt_snprintf(path, sizeof(path), "%s/state", v->backend);
    check_true(xs_read_str(path, state, sizeof(state)), "XenStore still answers (vif 0 backend state %s)", state);
}
