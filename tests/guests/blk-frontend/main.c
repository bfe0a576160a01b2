/* Test guest "blk-frontend": a minimal blkfront that drives kxen's block backend with
 * well-formed requests, then with every malformed one the block issue lists, asserting each
 * response; then reconnects (refused handshakes first, then ring-page-order 2) and ends with
 * a wild req_prod. Prints "blk-frontend: N of M checks passed" and powers off (or crashes if a
 * check failed).
 *
 * Command line: hcall=direct (runtime), readonly (the disk is expected read-only: the write
 * set becomes the refusals a read-only disk gives), prewritten (a writable run of this guest
 * left its pattern on the image: the read-only run compares it). */
#include "blkfront.h"
#include "../xen-abi/xs_client.h"

static void grant_pages(void)
{
    gnttab_init();
    for (unsigned i = 0; i < DATA_PAGES; i++)
        grant_page(BP_DATA + i, 0);
    grant_page(BP_INDIRECT, 1);
    grant_page(BP_INDIRECT2, 1);
    grant_page(BP_RO, 1);
}

/* A handshake the backend must refuse: it goes to Closing and says why in its `error` node. */
static void refused(const char *what, const char *key, const char *value, const char *reason)
{
    char path[160], error[160];
    xs_write_str(FRONTEND_DIR "/ring-ref", "16");
    xs_write_str(FRONTEND_DIR "/protocol", "x86_64-abi");
    char port[16];
    rt_snprintf(port, sizeof(port), "%u", alloc_port_for_dom0());
    xs_write_str(FRONTEND_DIR "/event-channel", port);
    xs_write_str(key, value);
    set_frontend_state(XenbusStateInitialised);
    check_eq(wait_backend_state(XenbusStateClosing), XenbusStateClosing, "%s: backend refuses, goes Closing",
             what);
    rt_snprintf(path, sizeof(path), "%s/error", backend_dir());
    int found = xs_read_str(path, error, sizeof(error));
    check_true(found && contains(error, reason), "%s: backend error node says \"%s\": %s", what, reason,
               found ? error : "<none>");
    xenbus_restart(what);
}

int main(void)
{
    debugcon_puts("blk-frontend: hostile blkfront (" KXEN_RT_BITS ")\n");
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    const int readonly = rt_cmdline_has("readonly");
    note("blk-frontend: start (" KXEN_RT_BITS ", transport %s, %s disk)\n",
        hypercall_transport_name(hypercall_transport()), readonly ? "read-only" : "writable");
    map_shared_info(bpage(BP_SHARED_INFO));
    grant_pages();
    xs_attach();
    xenbus_probe();

    blk_connect(0);
    check_eq(fe.readonly, readonly, "info %u: VDISK_READONLY as expected", fe.info);
    if (readonly)
        readonly_checks(rt_cmdline_has("prewritten"));
    else
        wellformed_checks();
    malformed_checks();
    still_served("the malformed requests");
    blk_disconnect();

    /* The ring at ref 16 was given back: the refusals happen before any mapping succeeds. */
    refused("protocol arm-abi (not served)", FRONTEND_DIR "/protocol", "arm-abi", "arm-abi");
    refused("ring-ref never granted", FRONTEND_DIR "/ring-ref", "300", "grant");

    blk_connect(2);
    multipage_checks();
    still_served("the 4-page ring's batch");
    wild_producer();
    finish();
}
