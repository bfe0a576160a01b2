/* The frontend's side of one vif: the device's nodes, the rings and grants netfront sets up, the
 * handshake (straight to Connected, as netfront goes), and tx/rx slots one at a time (FRONT_RING
 * semantics written out over Xen's netif types). */
#include "netfront.h"

static uint8_t pages[NP_COUNT][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
struct vif vifs[NR_VIFS];

uint8_t *npage(unsigned page) { return pages[page]; }

static void grant(unsigned page, int readonly)
{
    grant_frame(ref_of(page), (unsigned long)(uintptr_t)pages[page] >> PAGE_SHIFT, readonly);
}

uint8_t *tx_page(const struct vif *v, unsigned i) { return npage(NP_TX_DATA + v->index * TX_PAGES + i); }
grant_ref_t tx_ref(const struct vif *v, unsigned i) { return ref_of(NP_TX_DATA + v->index * TX_PAGES + i); }

static int parse_mac(const char *s, uint8_t mac[6])
{
    for (unsigned i = 0; i < 6; i++, s += 3) {
        unsigned byte = 0;
        for (unsigned k = 0; k < 2; k++) {
            const char c = s[k];
            const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (digit < 0)
                return 0;
            byte = byte * 16 + (unsigned)digit;
        }
        if (s[2] != (i == 5 ? '\0' : ':'))
            return 0;
        mac[i] = (uint8_t)byte;
    }
    return 1;
}

static void node_path(char *out, size_t size, const char *dir, const char *key)
{
    rt_snprintf(out, size, "%s/%s", dir, key);
}

void vif_probe(struct vif *v, unsigned index)
{
    char path[160], mac[32];
    v->index = index;
    rt_snprintf(v->dir, sizeof(v->dir), "device/vif/%u", index);
    node_path(path, sizeof(path), v->dir, "backend");
    if (!xs_read_str(path, v->backend, sizeof(v->backend)))
        fatal("no %s node", path);
    node_path(path, sizeof(path), v->dir, "mac");
    check_true(xs_read_str(path, mac, sizeof(mac)) && parse_mac(mac, v->mac), "vif %u: mac node %s", index, mac);
    check_eq(wait_state(v->backend, XenbusStateInitWait), XenbusStateInitWait, "vif %u: backend in InitWait",
             index);
    node_path(path, sizeof(path), v->backend, "feature-rx-copy");
    check_eq((long long)xs_read_number(path, 0), 1, "vif %u: backend offers feature-rx-copy", index);
}

static void write_node(const struct vif *v, const char *key, unsigned long value)
{
    char path[64];
    node_path(path, sizeof(path), v->dir, key);
    xs_write_number(path, value);
}

void vif_connect(struct vif *v)
{
    const unsigned tx_page_no = NP_TX_RING + v->index, rx_page_no = NP_RX_RING + v->index;
    memset(npage(tx_page_no), 0, PAGE_SIZE);
    memset(npage(rx_page_no), 0, PAGE_SIZE);
    v->tx = (struct netif_tx_sring *)(void *)npage(tx_page_no);
    v->rx = (struct netif_rx_sring *)(void *)npage(rx_page_no);
    v->tx->req_event = v->tx->rsp_event = 1;  /* SHARED_RING_INIT */
    v->rx->req_event = v->rx->rsp_event = 1;
    v->tx_prod = v->tx_cons = v->rx_prod = v->rx_cons = 0;
    grant(tx_page_no, 0);
    grant(rx_page_no, 0);
    for (unsigned i = 0; i < TX_PAGES; i++)
        grant(NP_TX_DATA + v->index * TX_PAGES + i, 1);  /* netfront grants tx pages read-only */
    v->port = alloc_port_for_dom0();
    write_node(v, "tx-ring-ref", ref_of(tx_page_no));
    write_node(v, "rx-ring-ref", ref_of(rx_page_no));
    write_node(v, "event-channel", v->port);
    write_node(v, "request-rx-copy", 1);
    write_node(v, "feature-rx-notify", 1);
    write_node(v, "feature-sg", 1);  /* netfront sends multi-slot packets only with it */
    write_node(v, "state", XenbusStateConnected);
    check_eq(wait_state(v->backend, XenbusStateConnected), XenbusStateConnected,
             "vif %u: tx ref %u, rx ref %u, port %u: backend Connected", v->index, ref_of(tx_page_no),
             ref_of(rx_page_no), v->port);
}

void vif_restart(struct vif *v)
{
    static const unsigned steps[][2] = {{XenbusStateClosing, XenbusStateClosing},
                                        {XenbusStateClosed, XenbusStateClosed},
                                        {XenbusStateInitialising, XenbusStateInitWait}};
    for (unsigned i = 0; i < 3; i++) {
        write_node(v, "state", steps[i][0]);
        check_eq(wait_state(v->backend, steps[i][1]), steps[i][1], "vif %u: frontend state %u, backend follows",
                 v->index, steps[i][0]);
    }
    const int released = (grant_flags(ref_of(NP_TX_RING + v->index)) & (GTF_reading | GTF_writing)) == 0 &&
                         (grant_flags(ref_of(NP_RX_RING + v->index)) & (GTF_reading | GTF_writing)) == 0;
    check_true(released, "vif %u: the backend released both ring grants", v->index);
}

void tx_put(struct vif *v, const netif_tx_request_t *req)
{
    memcpy(&v->tx->ring[v->tx_prod & (TX_SLOTS - 1)].req, req, sizeof(*req));
    v->tx_prod++;
}

void tx_put_extra(struct vif *v, const netif_extra_info_t *extra)
{
    netif_tx_request_t slot;
    memset(&slot, 0, sizeof(slot));
    memcpy(&slot, extra, sizeof(*extra));
    tx_put(v, &slot);
}

void tx_push(struct vif *v)
{
    __atomic_store_n(&v->tx->req_prod, v->tx_prod, __ATOMIC_SEQ_CST);
    kick(v->port);
}

/* Whether a response past `cons` is published in `*prod` within `ms`. */
static int wait_response(RING_IDX *prod, RING_IDX cons, unsigned ms)
{
    for (uint64_t end = deadline_after(ms);;) {
        if (__atomic_load_n(prod, __ATOMIC_ACQUIRE) != cons)
            return 1;
        if (deadline_passed(end))
            return 0;
    }
}

int tx_wait(struct vif *v, netif_tx_response_t *out, unsigned ms)
{
    if (!wait_response(&v->tx->rsp_prod, v->tx_cons, ms))
        return 0;
    memcpy(out, &v->tx->ring[v->tx_cons & (TX_SLOTS - 1)].rsp, sizeof(*out));
    v->tx_cons++;
    /* Ask for an event at the next response, as RING_FINAL_CHECK_FOR_RESPONSES does. */
    __atomic_store_n(&v->tx->rsp_event, v->tx_cons + 1, __ATOMIC_SEQ_CST);
    return 1;
}

void rx_post(struct vif *v, unsigned i)
{
    netif_rx_request_t *req = &v->rx->ring[v->rx_prod & (RX_SLOTS - 1)].req;
    grant(NP_RX_DATA + i, 0);
    req->id = (uint16_t)i;
    req->gref = ref_of(NP_RX_DATA + i);
    v->rx_prod++;
    __atomic_store_n(&v->rx->req_prod, v->rx_prod, __ATOMIC_SEQ_CST);
    kick(v->port);
}

int rx_wait(struct vif *v, netif_rx_response_t *out, unsigned ms)
{
    if (!wait_response(&v->rx->rsp_prod, v->rx_cons, ms))
        return 0;
    memcpy(out, &v->rx->ring[v->rx_cons & (RX_SLOTS - 1)].rsp, sizeof(*out));
    v->rx_cons++;
    __atomic_store_n(&v->rx->rsp_event, v->rx_cons + 1, __ATOMIC_SEQ_CST);
    return 1;
}
