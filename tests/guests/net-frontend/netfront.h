/* Test guest "net-frontend": a minimal netfront on two vifs, vif 0 hostile and vif 1 well
 * behaved. Shared declarations of its pages and grants, the vif connections and the checks. */
#ifndef NET_FRONTEND_H
#define NET_FRONTEND_H

#include "../frontend-common/frontend.h"
#include <xen/io/netif.h>

/* netif's structs have the same layout in both flavours (no 64-bit fields): Xen's own types. */
#define TX_SLOTS __CONST_RING_SIZE(netif_tx, 4096)
#define RX_SLOTS __CONST_RING_SIZE(netif_rx, 4096)
_Static_assert(TX_SLOTS == 256 && RX_SLOTS == 256, "one ring page holds 256 netif slots");
_Static_assert(sizeof(netif_tx_request_t) == 12 && sizeof(netif_extra_info_t) == 8, "netif tx slot sizes");
_Static_assert(sizeof(netif_rx_request_t) == 8 && sizeof(netif_rx_response_t) == 8, "netif rx slot sizes");

#define NR_VIFS 2u
#define TX_PAGES 2u                 /* frames to send, per vif */
#define RX_BUFFERS 8u               /* posted by vif 1 only */

/* ---- the guest's pages (identity-mapped .bss), each granted to dom0 as REF_BASE + page ---- */
enum net_page {
    NP_SHARED_INFO,
    NP_TX_RING,                     /* NP_TX_RING + vif */
    NP_RX_RING = NP_TX_RING + NR_VIFS,
    NP_TX_DATA = NP_RX_RING + NR_VIFS,  /* NP_TX_DATA + vif * TX_PAGES + i */
    NP_RX_DATA = NP_TX_DATA + NR_VIFS * TX_PAGES,
    NP_COUNT = NP_RX_DATA + RX_BUFFERS
};
#define REF_BASE 16u
static inline grant_ref_t ref_of(unsigned page) { return REF_BASE + page; }
uint8_t *npage(unsigned page);

/* ---- one vif (vif.c) ---- */
struct vif {
    unsigned index;
    char dir[32];                   /* device/vif/N */
    char backend[96];
    uint8_t mac[6];
    struct netif_tx_sring *tx;
    struct netif_rx_sring *rx;
    RING_IDX tx_prod, tx_cons, rx_prod, rx_cons;
    evtchn_port_t port;
    uint16_t next_id;
};
extern struct vif vifs[NR_VIFS];
/* The device kxen published: its nodes, the backend in InitWait offering rx-copy. */
void vif_probe(struct vif *v, unsigned index);
/* Fresh rings and port, the nodes netfront writes, state Connected; the backend must follow. */
void vif_connect(struct vif *v);
/* Frontend Closing, Closed, Initialising; the backend must follow back to InitWait. */
void vif_restart(struct vif *v);
uint8_t *tx_page(const struct vif *v, unsigned i);
grant_ref_t tx_ref(const struct vif *v, unsigned i);
/* Copies a request (or an extra, as the slot's first 8 bytes) into the next tx slot. */
void tx_put(struct vif *v, const netif_tx_request_t *req);
void tx_put_extra(struct vif *v, const netif_extra_info_t *extra);
/* Publishes req_prod (the slots put so far) and kicks. */
void tx_push(struct vif *v);
/* Waits up to `ms` for the next tx response; 1 if one came (consumed), else 0. */
int tx_wait(struct vif *v, netif_tx_response_t *out, unsigned ms);
/* Posts rx buffer `i` (of RX_BUFFERS) with id i. */
void rx_post(struct vif *v, unsigned i);
int rx_wait(struct vif *v, netif_rx_response_t *out, unsigned ms);

/* ---- ARP (arp.c) ---- */
#define ARP_LEN 42u
/* An ARP who-has 10.0.2.2 from 10.0.2.15 with the vif's MAC, at `buf`. */
void arp_request(const struct vif *v, uint8_t *buf);
/* vif 1 sends an ARP request in `slots` (1..18) slots; checks the tx responses and the reply. */
void arp_round_trip(const char *when, unsigned slots);

/* ---- the hostile set (malformed.c) ---- */
void malformed_checks(struct vif *v);
void fatal_extra(struct vif *v);
void wild_producer(struct vif *v);

#endif
