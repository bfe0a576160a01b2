/* XenStore over the guest's ring, as xenstored answers a domU: reads and writes under its home
 * path, directories, removal, domain paths, permissions, transactions (commit, abort,
 * conflict), watches (initial and change events, transactions, unwatch, reset) and errors. */
#include "xs_client.h"

static struct xs_reply reply;
static char home[64];     /* /local/domain/<domid> */
static char scratch[96];

/* "a\0b\0" -> "a b" (the reply's NUL-separated list, for comparing in one check). */
static const char *joined(const struct xs_reply *r)
{
    static char out[256];
    size_t n = 0;
    for (uint32_t i = 0; i < r->len && n + 1 < sizeof(out); i++)
        out[n++] = r->body[i] == '\0' ? ' ' : r->body[i];
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return out;
}

static void one(uint32_t type, uint32_t tx, const char *arg)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, arg);
    xs_request(type, tx, &p, &reply);
}

static void write_node(uint32_t tx, const char *path, const char *value, const char *what)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, path);
    xs_raw(&p, value);
    xs_expect_ok(XS_WRITE, tx, &p, what);
}

static void expect_read(uint32_t tx, const char *path, const char *want)
{
    one(XS_READ, tx, path);
    if (reply.type != XS_READ)
        abi_fail("XS_READ %s (tx %u) got error %s want \"%s\"", path, tx, reply.body, want);
    expect_str(reply.body, want, "XS_READ %s (tx %u)", path, tx);
}

static void expect_one_error(uint32_t type, uint32_t tx, const char *arg, const char *err, const char *what)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, arg);
    xs_expect_error(type, tx, &p, err, what);
}

static void expect_event(const char *path, const char *token, const char *what)
{
    char got_path[128], got_token[32];
    expect_true(xs_take_event(got_path, sizeof(got_path), got_token, sizeof(got_token)),
                "%s: a watch event arrived", what);
    expect_str(got_path, path, "%s: event path", what);
    expect_str(got_token, token, "%s: event token", what);
}

static void expect_no_event(const char *what)
{
    xs_sync();
    expect_eq(xs_events_queued(), 0, "%s: no watch event", what);
}

static uint32_t start_transaction(const char *what)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, "");
    xs_request(XS_TRANSACTION_START, 0, &p, &reply);
    if (reply.type != XS_TRANSACTION_START)
        abi_fail("%s: XS_TRANSACTION_START got error %s", what, reply.body);
    long id = parse_decimal(reply.body);
    expect_true(id > 0, "%s: XS_TRANSACTION_START gave id \"%s\"", what, reply.body);
    return (uint32_t)id;
}

static void end_transaction(uint32_t tx, const char *commit, const char *err, const char *what)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, commit);
    if (err)
        xs_expect_error(XS_TRANSACTION_END, tx, &p, err, what);
    else
        xs_expect_ok(XS_TRANSACTION_END, tx, &p, what);
}

/* The ring is live, the port is an interdomain channel to dom0, replies raise it. */
static void ring_basics(void)
{
    xs_attach();
    evtchn_status_t st;
    expect_eq(evtchn_status_of(xs_port(), &st), 0, "EVTCHNOP_status(store port)");
    expect_eq(st.status, EVTCHNSTAT_interdomain, "store port is interdomain");
    expect_eq(st.u.interdomain.dom, 0, "store port's peer is dom0");
    expect_eq(xs_ring()->connection, XENSTORE_CONNECTED, "store ring connection state");
    l2_clear_pending(xs_port());
    one(XS_READ, 0, "domid");
    if (reply.type != XS_READ)
        abi_fail("XS_READ domid got error %s", reply.body);
    long domid = parse_decimal(reply.body);
    expect_true(domid > 0 && domid < (long)DOMID_FIRST_RESERVED, "XS_READ domid = \"%s\" is a domU id", reply.body);
    abi_set_domid((domid_t)domid);
    expect_true(l2_wait_pending(xs_port()), "store port %u pending in shared_info after a reply", xs_port());
    l2_clear_pending(xs_port());
    rt_snprintf(home, sizeof(home), "/local/domain/%ld", domid);
    rt_snprintf(scratch, sizeof(scratch), "%ld", domid);
    one(XS_GET_DOMAIN_PATH, 0, scratch);
    expect_str(reply.body, home, "XS_GET_DOMAIN_PATH %s", scratch);
    rt_snprintf(scratch, sizeof(scratch), "%s/domid", home);
    one(XS_READ, 0, scratch);
    expect_eq(parse_decimal(reply.body), domid, "XS_READ %s (absolute)", scratch);
}

static void nodes(void)
{
    write_node(0, "data/xenabi/a", "hello", "XS_WRITE data/xenabi/a");
    expect_read(0, "data/xenabi/a", "hello");
    write_node(0, "data/xenabi/b", "2", "XS_WRITE data/xenabi/b");
    write_node(0, "data/xenabi/a", "hello again", "XS_WRITE data/xenabi/a (overwrite)");
    expect_read(0, "data/xenabi/a", "hello again");
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, "data/xenabi/dir");
    xs_expect_ok(XS_MKDIR, 0, &p, "XS_MKDIR data/xenabi/dir");
    expect_read(0, "data/xenabi/dir", "");
    one(XS_DIRECTORY, 0, "data/xenabi");
    expect_eq(reply.type, XS_DIRECTORY, "XS_DIRECTORY data/xenabi: reply type");
    expect_str(joined(&reply), "a b dir", "XS_DIRECTORY data/xenabi");
    xs_payload_init(&p);
    xs_arg(&p, "data/xenabi/b");
    xs_expect_ok(XS_RM, 0, &p, "XS_RM data/xenabi/b");
    expect_one_error(XS_READ, 0, "data/xenabi/b", "ENOENT", "XS_READ of a removed node");
    xs_expect_ok(XS_RM, 0, &p, "XS_RM of a missing node under an existing parent");
    one(XS_DIRECTORY, 0, "data/xenabi");
    expect_str(joined(&reply), "a dir", "XS_DIRECTORY after XS_RM");
    expect_one_error(XS_READ, 0, "data/xenabi/missing", "ENOENT", "XS_READ of a missing node");
    expect_one_error(XS_READ, 0, "data/xenabi/bad!char", "EINVAL", "XS_READ of an invalid path");
    expect_one_error(XS_RM, 0, "data/nothing/here", "ENOENT", "XS_RM with a missing parent");
    expect_one_error(XS_TYPE_COUNT + 3, 0, "data", "ENOSYS", "unknown message type");
}

static void write_node_error(const char *path)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, path);
    xs_raw(&p, "x");
    xs_expect_error(XS_WRITE, 0, &p, "EACCES", "XS_WRITE of our read-only name node");
}

static void permissions(void)
{
    char want[48];
    one(XS_GET_PERMS, 0, "data/xenabi/a");
    rt_snprintf(want, sizeof(want), "n%u", abi_domid());
    expect_str(joined(&reply), want, "XS_GET_PERMS of a node we created (we own it)");
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, "data/xenabi/a");
    rt_snprintf(want, sizeof(want), "n%u", abi_domid());
    xs_arg(&p, want);
    xs_arg(&p, "r0");
    xs_expect_ok(XS_SET_PERMS, 0, &p, "XS_SET_PERMS data/xenabi/a n<self> r0");
    one(XS_GET_PERMS, 0, "data/xenabi/a");
    rt_snprintf(want, sizeof(want), "n%u r0", abi_domid());
    expect_str(joined(&reply), want, "XS_GET_PERMS after XS_SET_PERMS");
    expect_read(0, "data/xenabi/a", "hello again");  /* the owner keeps full access */
    xs_payload_init(&p);
    xs_arg(&p, "data/xenabi/a");
    rt_snprintf(want, sizeof(want), "r%u", abi_domid());
    xs_arg(&p, "n0");
    xs_arg(&p, want);
    xs_expect_error(XS_SET_PERMS, 0, &p, "EPERM", "XS_SET_PERMS giving our node to dom0");
    xs_payload_init(&p);
    xs_arg(&p, "data/xenabi/a");
    xs_arg(&p, "x5");
    xs_expect_error(XS_SET_PERMS, 0, &p, "EINVAL", "XS_SET_PERMS with a malformed entry");
    one(XS_GET_PERMS, 0, home);
    rt_snprintf(want, sizeof(want), "n0 r%u", abi_domid());
    expect_str(joined(&reply), want, "XS_GET_PERMS of our home (dom0's, read-only to us)");
    rt_snprintf(scratch, sizeof(scratch), "%s/name", home);
    write_node_error(scratch);
    expect_one_error(XS_READ, 0, "/local/domain/0/name", "EACCES", "XS_READ of dom0's node");
    expect_one_error(XS_DIRECTORY, 0, "/local/domain", "EACCES", "XS_DIRECTORY /local/domain");
    expect_one_error(XS_READ, 0, "/tool", "EACCES", "XS_READ /tool");
    xs_payload_init(&p);
    xs_arg(&p, home);
    rt_snprintf(want, sizeof(want), "n%u", abi_domid());
    xs_arg(&p, want);
    xs_expect_error(XS_SET_PERMS, 0, &p, "EACCES", "XS_SET_PERMS on our home (not ours)");
}

static void transactions(void)
{
    uint32_t t1 = start_transaction("commit");
    write_node(t1, "data/xenabi/tx1", "in-tx", "XS_WRITE inside a transaction");
    expect_read(t1, "data/xenabi/tx1", "in-tx");
    expect_one_error(XS_READ, 0, "data/xenabi/tx1", "ENOENT", "XS_READ outside sees no uncommitted node");
    end_transaction(t1, "T", NULL, "XS_TRANSACTION_END T");
    expect_read(0, "data/xenabi/tx1", "in-tx");
    end_transaction(t1, "T", "ENOENT", "XS_TRANSACTION_END of an ended transaction");

    uint32_t t2 = start_transaction("conflict");
    expect_read(t2, "data/xenabi/a", "hello again");
    write_node(t2, "data/xenabi/a", "from-t2", "XS_WRITE in the conflicting transaction");
    write_node(0, "data/xenabi/a", "outside", "XS_WRITE outside the transaction");
    end_transaction(t2, "T", "EAGAIN", "XS_TRANSACTION_END of a conflicting transaction");
    expect_read(0, "data/xenabi/a", "outside");

    uint32_t t3 = start_transaction("abort");
    write_node(t3, "data/xenabi/tx3", "x", "XS_WRITE in a transaction to abort");
    end_transaction(t3, "F", NULL, "XS_TRANSACTION_END F");
    expect_one_error(XS_READ, 0, "data/xenabi/tx3", "ENOENT", "XS_READ after an aborted transaction");
    end_transaction(0, "X", "EINVAL", "XS_TRANSACTION_END with a bad argument");
    end_transaction(0, "T", "ENOENT", "XS_TRANSACTION_END outside a transaction");
}

static void watch_op(uint32_t type, const char *path, const char *token, const char *err, const char *what)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, path);
    xs_arg(&p, token);
    if (err)
        xs_expect_error(type, 0, &p, err, what);
    else
        xs_expect_ok(type, 0, &p, what);
}

static void watches(void)
{
    expect_eq(xs_events_queued(), 0, "no watch events before any watch");
    watch_op(XS_WATCH, "data/xenabi/w", "tokw", NULL, "XS_WATCH data/xenabi/w");
    xs_sync();
    expect_event("data/xenabi/w", "tokw", "XS_WATCH fires once on registration");
    expect_eq(xs_events_queued(), 0, "only one registration event");
    watch_op(XS_WATCH, "data/xenabi/w", "tokw", "EEXIST", "XS_WATCH twice with one token");
    write_node(0, "data/xenabi/w", "1", "XS_WRITE the watched node");
    xs_sync();
    expect_event("data/xenabi/w", "tokw", "change of the watched node");
    write_node(0, "data/xenabi/w/child", "2", "XS_WRITE below the watched node");
    xs_sync();
    expect_event("data/xenabi/w/child", "tokw", "change below the watched node");
    write_node(0, "data/xenabi/other", "3", "XS_WRITE beside the watched node");
    expect_no_event("write beside the watched node");
    uint32_t tx = start_transaction("watch");
    write_node(tx, "data/xenabi/w", "tx", "XS_WRITE the watched node in a transaction");
    expect_no_event("uncommitted write");
    end_transaction(tx, "T", NULL, "XS_TRANSACTION_END T (watched)");
    xs_sync();
    expect_event("data/xenabi/w", "tokw", "committed transaction fires the watch");
    watch_op(XS_UNWATCH, "data/xenabi/w", "tokw", NULL, "XS_UNWATCH");
    write_node(0, "data/xenabi/w", "4", "XS_WRITE after XS_UNWATCH");
    expect_no_event("write after XS_UNWATCH");
    watch_op(XS_UNWATCH, "data/xenabi/w", "tokw", "ENOENT", "XS_UNWATCH of an unknown watch");
    watch_op(XS_WATCH, "data/xenabi/r", "tokr", NULL, "XS_WATCH data/xenabi/r");
    xs_sync();
    expect_event("data/xenabi/r", "tokr", "registration event before the reset");
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, "");
    xs_expect_ok(XS_RESET_WATCHES, 0, &p, "XS_RESET_WATCHES");
    write_node(0, "data/xenabi/r", "5", "XS_WRITE after XS_RESET_WATCHES");
    expect_no_event("write after XS_RESET_WATCHES");
}

void phase_xenstore(void)
{
    note("xen-abi: XenStore over the ring\n");
    ring_basics();
    nodes();
    permissions();
    transactions();
    watches();
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, "data/xenabi");
    xs_expect_ok(XS_RM, 0, &p, "XS_RM data/xenabi (clean up)");
    expect_one_error(XS_READ, 0, "data/xenabi/a", "ENOENT", "XS_READ after removing the subtree");
}
