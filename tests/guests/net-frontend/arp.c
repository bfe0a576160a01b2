/* ARP against libslirp's gateway (10.0.2.2): the one exchange a --net user NIC answers without
 * any IP stack in the guest, so vif 1 can prove end to end that kxen still serves it. */
#include "netfront.h"

#define REPLY_WAIT_MS 5000u

static const uint8_t gateway_ip[4] = {10, 0, 2, 2};
static const uint8_t guest_ip[4] = {10, 0, 2, 15};
static const uint8_t arp_header[8] = {0x00, 0x01, 0x08, 0x00, 6, 4};  /* Ethernet, IPv4, 6, 4 (op follows) */

void arp_request(const struct vif *v, uint8_t *buf)
{
    memset(buf, 0xff, 6);                    /* broadcast */
    memcpy(buf + 6, v->mac, 6);
    buf[12] = 0x08, buf[13] = 0x06;          /* ETH_P_ARP */
    memcpy(buf + 14, arp_header, 6);
    buf[20] = 0, buf[21] = 1;                /* who-has */
    memcpy(buf + 22, v->mac, 6);
    memcpy(buf + 28, guest_ip, 4);
    memset(buf + 32, 0, 6);
    memcpy(buf + 38, gateway_ip, 4);
}

/* The gateway's answer: 1 if `f` is an ARP reply to the vif from 10.0.2.2; `why` says what. */
static int is_arp_reply(const struct vif *v, const uint8_t *f, size_t len, char *why, size_t why_size)
{
    const char *bad = len < ARP_LEN                      ? "shorter than an ARP frame"
                      : memcmp(f, v->mac, 6) != 0        ? "not addressed to the vif's MAC"
                      : f[12] != 0x08 || f[13] != 0x06   ? "not ARP"
                      : memcmp(f + 14, arp_header, 6)    ? "not Ethernet/IPv4 ARP"
                      : f[20] != 0 || f[21] != 2         ? "not a reply"
                      : memcmp(f + 28, gateway_ip, 4)    ? "not from 10.0.2.2"
                      : memcmp(f + 32, v->mac, 6) != 0   ? "target MAC is not the vif's"
                      : memcmp(f + 38, guest_ip, 4) != 0 ? "target IP is not 10.0.2.15"
                      : memcmp(f + 6, f + 22, 6) != 0    ? "sender MAC differs from the frame's source"
                                                         : NULL;
    rt_snprintf(why, why_size, "%s", bad ? bad : "an ARP reply from 10.0.2.2");
    return bad == NULL;
}

/* Takes rx responses (reposting each buffer) until an ARP reply arrives or the wait ends. */
static void expect_reply(struct vif *v, const char *when)
{
    netif_rx_response_t rsp;
    char why[64] = "no rx response";
    int found = 0, sane = 1;
    for (uint64_t end = deadline_after(REPLY_WAIT_MS); !found && !deadline_passed(end);) {
        if (!rx_wait(v, &rsp, 10))
            continue;
        sane &= rsp.id < RX_BUFFERS && rsp.status > 0 && rsp.offset == 0 && !(rsp.flags & NETRXF_more_data);
        if (rsp.id >= RX_BUFFERS || rsp.status <= 0)
            continue;
        found = is_arp_reply(v, npage(NP_RX_DATA + rsp.id) + rsp.offset, (size_t)rsp.status, why, sizeof(why));
        rx_post(v, rsp.id);
    }
    check_true(sane, "vif %u %s: rx responses name posted buffers, one slot each, offset 0", v->index, when);
    check_true(found, "vif %u %s: the ARP reply landed in a posted buffer (%s)", v->index, when, why);
}

/* The frame at offset 256 of tx page 0 in `slots` slots: the first holds what the others (1 byte
 * each) leave, so the reply proves the backend gathered them in order. */
void arp_round_trip(const char *when, unsigned slots)
{
    struct vif *v = &vifs[1];
    const uint16_t base = 256, first = (uint16_t)(ARP_LEN - (slots - 1));
    arp_request(v, tx_page(v, 0) + base);
    uint16_t ids[XEN_NETIF_NR_SLOTS_MIN];
    for (unsigned i = 0; i < slots; i++) {
        netif_tx_request_t req = {.gref = tx_ref(v, 0), .offset = (uint16_t)(i == 0 ? base : base + first + i - 1),
                                  .flags = i + 1 < slots ? NETTXF_more_data : 0, .id = v->next_id++,
                                  .size = i == 0 ? ARP_LEN : 1};
        ids[i] = req.id;
        tx_put(v, &req);
    }
    tx_push(v);
    int ok = 1;
    netif_tx_response_t rsp = {.id = 0xffff, .status = 99};
    for (unsigned i = 0; i < slots; i++) {
        rsp.status = 99;
        ok &= tx_wait(v, &rsp, 10000) && rsp.id == ids[i] && rsp.status == NETIF_RSP_OKAY;
    }
    check_true(ok, "vif %u %s: ARP request in %u slot(s) sent, each answered OKAY (last: id %u status %d)", v->index,
               when, slots, rsp.id, rsp.status);
    expect_reply(v, when);
}
