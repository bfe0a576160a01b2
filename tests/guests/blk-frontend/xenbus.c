/* XenBus for the blk-frontend guest: the probe of the device kxen publishes (its nodes, the
 * backend's features) and state changes, over frontend-common's XenStore helpers. */
#include "blkfront.h"
#include "../xen-abi/xs_client.h"

static char backend[96];

const char *backend_dir(void) { return backend; }

/* A backend node as a number, or `fallback` if it is missing or not a number. */
static uint64_t backend_number(const char *key, uint64_t fallback)
{
    char path[160];
    rt_snprintf(path, sizeof(path), "%s/%s", backend, key);
    return xs_read_number(path, fallback);
}

void set_frontend_state(unsigned state)
{
    char value[4];
    rt_snprintf(value, sizeof(value), "%u", state);
    xs_write_str(FRONTEND_DIR "/state", value);
}

unsigned wait_backend_state(unsigned want) { return wait_state(backend, want); }

static void expect_node(const char *dir, const char *key, const char *want)
{
    char path[160], value[96];
    rt_snprintf(path, sizeof(path), "%s/%s", dir, key);
    int found = xs_read_str(path, value, sizeof(value));
    check_true(found && str_eq(value, want), "%s is \"%s\" (got \"%s\")", path, want, found ? value : "<none>");
}

/* The device kxen wrote, the backend in InitWait and every feature it must offer by then. */
void xenbus_probe(void)
{
    static struct xs_reply list;
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, "device/vbd");
    xs_request(XS_DIRECTORY, 0, &p, &list);
    check_true(list.type == XS_DIRECTORY && str_eq(list.body, "51712"), "device/vbd lists only 51712");
    if (!xs_read_str(FRONTEND_DIR "/backend", backend, sizeof(backend)))
        fatal("no %s/backend node", FRONTEND_DIR);
    check_true(str_eq(backend, "/local/domain/0/backend/vbd/1/51712"), "backend is %s", backend);
    expect_node(FRONTEND_DIR, "backend-id", "0");
    expect_node(FRONTEND_DIR, "device-type", "disk");
    expect_node(FRONTEND_DIR, "virtual-device", "51712");
    expect_node(FRONTEND_DIR, "state", "1");
    check_eq(wait_backend_state(XenbusStateInitWait), XenbusStateInitWait, "backend in InitWait");
    expect_node(backend, "feature-max-indirect-segments", "256");
    expect_node(backend, "max-ring-page-order", "4");
    expect_node(backend, "feature-flush-cache", "1");
    expect_node(backend, "feature-barrier", "1");
    check_true(backend_number("multi-queue-max-queues", 0) >= 1, "backend offers multi-queue-max-queues >= 1");
    fe.discard = backend_number("feature-discard", 0) == 1;
    note("blk-frontend: feature-discard %d\n", fe.discard);
}

/* After the backend went Connected: the disk's size and flags. */
void read_disk_info(void)
{
    fe.sectors = backend_number("sectors", 0);
    fe.info = (unsigned)backend_number("info", ~0ull);
    fe.sector_size = (unsigned)backend_number("sector-size", 0);
    fe.readonly = (fe.info & VDISK_READONLY) != 0;
    check_true(fe.sectors >= 4096, "sectors %llu (at least 2 MiB)", (unsigned long long)fe.sectors);
    check_eq(fe.sector_size, 512, "sector-size");
}

void xenbus_restart(const char *why)
{
    set_frontend_state(XenbusStateClosing);
    check_eq(wait_backend_state(XenbusStateClosing), XenbusStateClosing, "%s: backend follows to Closing", why);
    set_frontend_state(XenbusStateClosed);
    check_eq(wait_backend_state(XenbusStateClosed), XenbusStateClosed, "%s: backend follows to Closed", why);
    set_frontend_state(XenbusStateInitialising);
    check_eq(wait_backend_state(XenbusStateInitWait), XenbusStateInitWait, "%s: backend back in InitWait", why);
}
