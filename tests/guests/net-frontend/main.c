/* Test guest "net-frontend": a minimal netfront on two --net NICs. vif 1 behaves (rx buffers
 * posted, ARP round trips with libslirp's gateway); vif 0 is hostile: no rx buffers, every
 * malformed tx packet the net issue lists, an extra of an unknown type (the backend disables
 * the ring; vif 0 reconnects), then a wild req_prod. vif 1 must keep working after each.
 * Prints "net-frontend: N of M checks passed" and powers off (or crashes if a check failed).
 *
 * Command line: hcall=direct (runtime). */
#include "netfront.h"
#include "../xen-abi/xs_client.h"

const char fe_name[] = "net-frontend";

static void grant_setup(void)
{
    gnttab_init();
    map_shared_info(npage(NP_SHARED_INFO));
    xs_attach();
}

static void connect_both(void)
{
    static struct xs_reply list;
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, "device/vif");
    xs_request(XS_DIRECTORY, 0, &p, &list);
    check_true(list.type == XS_DIRECTORY && str_eq(list.body, "0") && list.len == 4 && str_eq(list.body + 2, "1"),
               "device/vif lists 0 and 1");
    for (unsigned i = 0; i < NR_VIFS; i++) {
        vif_probe(&vifs[i], i);
        vif_connect(&vifs[i]);
    }
    for (unsigned i = 0; i < RX_BUFFERS; i++)
        rx_post(&vifs[1], i);
}

int main(void)
{
    debugcon_puts("net-frontend: hostile netfront (" KXEN_RT_BITS ")\n");
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    note("net-frontend: start (" KXEN_RT_BITS ", transport %s)\n", hypercall_transport_name(hypercall_transport()));
    grant_setup();
    connect_both();
    arp_round_trip("first", 1);
    malformed_checks(&vifs[0]);
    arp_round_trip("after vif 0's malformed packets", XEN_NETIF_NR_SLOTS_MIN);
    fatal_extra(&vifs[0]);
    arp_round_trip("after vif 0's fatal extra", 1);
    vif_restart(&vifs[0]);
    vif_connect(&vifs[0]);
    malformed_checks(&vifs[0]);
    wild_producer(&vifs[0]);
    arp_round_trip("after vif 0's wild req_prod", 2);
    finish();
}
