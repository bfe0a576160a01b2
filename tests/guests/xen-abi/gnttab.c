/* Grant tables v1 and v2 as a domU sees them: table size and frames, grants to its own domain
 * id, GNTTABOP_copy between granted pages and plain frames (with Xen's GNTST_* codes for
 * read-only grants, foreign grants, bad refs, bad ranges, v2 sub-page windows), and version
 * switches with status frames. */
#include "abi.h"

#define REF_A 10    /* -> PG_DATA_A */
#define REF_B 11    /* -> PG_DATA_B */
#define REF_RO 12   /* -> PG_DATA_RO, read-only */
#define REF_DOM0 13 /* -> PG_DATA_A, granted to dom0 rather than to us */
#define REF_SUB 14  /* v2: PG_DATA_SUB bytes [SUB_OFF, SUB_OFF + SUB_LEN) */
#define SUB_OFF 256
#define SUB_LEN 512
#define UNKNOWN_DOMID (DOMID_FIRST_RESERVED - 1)

static void *frame_at(unsigned long gpfn) { return (void *)(uintptr_t)(gpfn << PAGE_SHIFT); }
static grant_entry_v1_t *v1(grant_ref_t ref) { return (grant_entry_v1_t *)frame_at(GNTTAB_SHARED_GPFN) + ref; }
static grant_entry_v2_t *v2(grant_ref_t ref) { return (grant_entry_v2_t *)frame_at(GNTTAB_SHARED_GPFN) + ref; }
static volatile grant_status_t *status_word(grant_ref_t ref)
{
    return (volatile grant_status_t *)frame_at(GNTTAB_STATUS_GPFN) + ref;
}
static uint8_t *page(enum guest_page p) { return guest_page(p); }

/* Frame and domid first, flags last: the flags make the entry valid. */
static void grant_v1(grant_ref_t ref, domid_t dom, enum guest_page p, uint16_t flags)
{
    v1(ref)->domid = dom;
    v1(ref)->frame = (uint32_t)guest_pfn(p);
    __atomic_store_n(&v1(ref)->flags, flags, __ATOMIC_RELEASE);
}

static void grant_v2(grant_ref_t ref, domid_t dom, enum guest_page p, uint16_t flags, uint16_t off, uint16_t len)
{
    grant_entry_v2_t *e = v2(ref);
    e->hdr.domid = dom;
    if (flags & GTF_sub_page) {
        e->sub_page.page_off = off;
        e->sub_page.length = len;
        e->sub_page.frame = guest_pfn(p);
    } else {
        e->full_page.frame = guest_pfn(p);
    }
    __atomic_store_n(&e->hdr.flags, flags, __ATOMIC_RELEASE);
}

struct end {
    int gref;               /* 1: u.ref, 0: u.gmfn */
    unsigned long value;
    domid_t dom;
    uint16_t offset;
};
static struct end by_ref(grant_ref_t ref, uint16_t off) { return (struct end){1, ref, DOMID_SELF, off}; }
static struct end by_frame(unsigned long gpfn, uint16_t off) { return (struct end){0, gpfn, DOMID_SELF, off}; }

static void fill_ptr(struct gnttab_copy_ptr *p, const struct end *e)
{
    if (e->gref)
        p->u.ref = (grant_ref_t)e->value;
    else
        p->u.gmfn = (xen_pfn_t)e->value;
    p->domid = e->dom;
    p->offset = e->offset;
}

/* One GNTTABOP_copy: the hypercall must succeed and the op's status must be `want`. */
static void copy(struct end src, struct end dst, uint16_t len, int16_t want, const char *what)
{
    gnttab_copy_t op;
    memset(&op, 0, sizeof(op));
    fill_ptr(&op.source, &src);
    fill_ptr(&op.dest, &dst);
    op.flags = (uint16_t)((src.gref ? GNTCOPY_source_gref : 0) | (dst.gref ? GNTCOPY_dest_gref : 0));
    op.len = len;
    op.status = 0x7fff;
    expect_eq(xen_grant_table_op(GNTTABOP_copy, &op, 1), 0, "GNTTABOP_copy %s: hypercall", what);
    expect_eq(op.status, want, "GNTTABOP_copy %s: status", what);
}

static int page_is(enum guest_page p, unsigned off, unsigned len, uint8_t value)
{
    for (unsigned i = off; i < off + len; i++)
        if (page(p)[i] != value)
            return 0;
    return 1;
}

static void reset_pages(void)
{
    memset(page(PG_DATA_A), 0xa1, PAGE_SIZE);
    memset(page(PG_DATA_B), 0, PAGE_SIZE);
    memset(page(PG_DATA_RO), 0x0f, PAGE_SIZE);
    memset(page(PG_DATA_D), 0, PAGE_SIZE);
    memset(page(PG_DATA_SUB), 0, PAGE_SIZE);
}

static void table_setup(void)
{
    struct gnttab_query_size q = {.dom = DOMID_SELF};
    expect_eq(xen_grant_table_op(GNTTABOP_query_size, &q, 1), 0, "GNTTABOP_query_size");
    expect_eq(q.status, GNTST_okay, "GNTTABOP_query_size status");
    expect_true(q.nr_frames >= 1 && q.max_nr_frames >= q.nr_frames,
                "query_size: %u frames of at most %u", q.nr_frames, q.max_nr_frames);
    const uint32_t max_frames = q.max_nr_frames;
    q.dom = UNKNOWN_DOMID;
    expect_eq(xen_grant_table_op(GNTTABOP_query_size, &q, 1), 0, "GNTTABOP_query_size(unknown domain)");
    expect_eq(q.status, GNTST_bad_domain, "GNTTABOP_query_size(unknown domain) status");
    struct gnttab_get_version gv = {.dom = DOMID_SELF};
    expect_eq(xen_grant_table_op(GNTTABOP_get_version, &gv, 1), 0, "GNTTABOP_get_version");
    expect_eq(gv.version, 1, "a domain starts with grant table v1");

    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = GNTTAB_SHARED_GPFN};
    expect_eq(xen_memory_op(XENMEM_add_to_physmap, &xatp), 0, "add_to_physmap(grant_table frame 0)");
    xatp.idx = max_frames;
    xatp.gpfn = GNTTAB_SHARED_GPFN + 1;
    expect_eq(xen_memory_op(XENMEM_add_to_physmap, &xatp), -XEN_EINVAL,
              "add_to_physmap(grant_table frame %u, beyond the maximum)", max_frames);
    xatp.idx = XENMAPIDX_grant_table_status;
    xatp.gpfn = GNTTAB_STATUS_GPFN;
    expect_eq(xen_memory_op(XENMEM_add_to_physmap, &xatp), -XEN_EINVAL,
              "add_to_physmap(grant status frame) in v1");

    static xen_pfn_t frames[1];
    struct gnttab_setup_table st = {.dom = DOMID_SELF, .nr_frames = 1};
    frames[0] = 0;
    set_xen_guest_handle(st.frame_list, frames);
    expect_eq(xen_grant_table_op(GNTTABOP_setup_table, &st, 1), 0, "GNTTABOP_setup_table");
    expect_eq(st.status, GNTST_okay, "GNTTABOP_setup_table status");
    expect_eq((long)frames[0], (long)GNTTAB_SHARED_GPFN, "setup_table reports frame 0 where we mapped it");
    st.dom = UNKNOWN_DOMID;
    expect_eq(xen_grant_table_op(GNTTABOP_setup_table, &st, 1), 0, "GNTTABOP_setup_table(unknown domain)");
    expect_eq(st.status, GNTST_bad_domain, "GNTTABOP_setup_table(unknown domain) status");
}

/* Copies and refusals both versions share; the entries are already written. */
static void common_copies(const char *v)
{
    char what[64];
    reset_pages();
    rt_snprintf(what, sizeof(what), "%s gref->gref page", v);
    copy(by_ref(REF_A, 0), by_ref(REF_B, 0), PAGE_SIZE, GNTST_okay, what);
    expect_true(memcmp(page(PG_DATA_B), page(PG_DATA_A), PAGE_SIZE) == 0, "%s: the page moved", what);
    rt_snprintf(what, sizeof(what), "%s gref->gmfn range", v);
    copy(by_ref(REF_A, 100), by_frame(guest_pfn(PG_DATA_D), 200), 300, GNTST_okay, what);
    expect_true(page_is(PG_DATA_D, 200, 300, 0xa1) && page_is(PG_DATA_D, 0, 200, 0) &&
                    page_is(PG_DATA_D, 500, PAGE_SIZE - 500, 0),
                "%s: exactly bytes 200..499 changed", what);
    rt_snprintf(what, sizeof(what), "%s gmfn->gref", v);
    memset(page(PG_DATA_D), 0x3c, 64);
    copy(by_frame(guest_pfn(PG_DATA_D), 0), by_ref(REF_B, 64), 64, GNTST_okay, what);
    expect_true(page_is(PG_DATA_B, 64, 64, 0x3c) && page_is(PG_DATA_B, 0, 64, 0xa1), "%s: data moved", what);
    rt_snprintf(what, sizeof(what), "%s read-only gref as source", v);
    copy(by_ref(REF_RO, 0), by_frame(guest_pfn(PG_DATA_D), 0), 16, GNTST_okay, what);
    expect_true(page_is(PG_DATA_D, 0, 16, 0x0f), "%s: data moved", what);
    rt_snprintf(what, sizeof(what), "%s read-only gref as destination", v);
    copy(by_ref(REF_A, 0), by_ref(REF_RO, 0), 16, GNTST_general_error, what);
    expect_true(page_is(PG_DATA_RO, 0, PAGE_SIZE, 0x0f), "%s: page untouched", what);
    rt_snprintf(what, sizeof(what), "%s grant to dom0", v);
    copy(by_ref(REF_DOM0, 0), by_frame(guest_pfn(PG_DATA_D), 0), 16, GNTST_general_error, what);
    rt_snprintf(what, sizeof(what), "%s ref beyond the table", v);
    copy(by_ref(100000, 0), by_frame(guest_pfn(PG_DATA_D), 0), 16, GNTST_bad_gntref, what);
    rt_snprintf(what, sizeof(what), "%s range beyond the page", v);
    copy(by_ref(REF_A, 4090), by_ref(REF_B, 0), 16, GNTST_bad_copy_arg, what);
    rt_snprintf(what, sizeof(what), "%s unpopulated gmfn", v);
    copy(by_frame(UNPOPULATED_GPFN, 0), by_ref(REF_B, 0), 16, GNTST_bad_page, what);
    struct end numeric = by_frame(guest_pfn(PG_DATA_A), 0);
    numeric.dom = abi_domid();
    rt_snprintf(what, sizeof(what), "%s gmfn by numeric domid", v);
    copy(numeric, by_ref(REF_B, 0), 16, GNTST_permission_denied, what);
    struct end foreign = by_ref(REF_A, 0);
    foreign.dom = UNKNOWN_DOMID;
    rt_snprintf(what, sizeof(what), "%s gref of an unknown domain", v);
    copy(foreign, by_ref(REF_B, 0), 16, GNTST_bad_domain, what);
}

/* Two ops in one call: each gets its own status. */
static void batch(void)
{
    gnttab_copy_t ops[2];
    memset(ops, 0, sizeof(ops));
    struct end a = by_ref(REF_A, 0), d = by_frame(guest_pfn(PG_DATA_D), 0), ro = by_ref(REF_RO, 0);
    fill_ptr(&ops[0].source, &a);
    fill_ptr(&ops[0].dest, &d);
    ops[0].flags = GNTCOPY_source_gref;
    ops[0].len = 8;
    fill_ptr(&ops[1].source, &d);
    fill_ptr(&ops[1].dest, &ro);
    ops[1].flags = GNTCOPY_dest_gref;
    ops[1].len = 8;
    expect_eq(xen_grant_table_op(GNTTABOP_copy, ops, 2), 0, "GNTTABOP_copy batch of 2: hypercall");
    expect_eq(ops[0].status, GNTST_okay, "GNTTABOP_copy batch: first op status");
    expect_eq(ops[1].status, GNTST_general_error, "GNTTABOP_copy batch: second op status");
}

static void v1_phase(void)
{
    grant_v1(REF_A, abi_domid(), PG_DATA_A, GTF_permit_access);
    grant_v1(REF_B, abi_domid(), PG_DATA_B, GTF_permit_access);
    grant_v1(REF_RO, abi_domid(), PG_DATA_RO, GTF_permit_access | GTF_readonly);
    grant_v1(REF_DOM0, 0, PG_DATA_A, GTF_permit_access);
    common_copies("v1");
    expect_eq(v1(REF_A)->flags, GTF_permit_access, "v1 GTF_reading/GTF_writing clear after copies (A)");
    expect_eq(v1(REF_B)->flags, GTF_permit_access, "v1 GTF_reading/GTF_writing clear after copies (B)");
    batch();
}

static void switch_version(uint32_t version, long want_rc, uint32_t want_version)
{
    struct gnttab_set_version sv = {.version = version};
    expect_eq(xen_grant_table_op(GNTTABOP_set_version, &sv, 1), want_rc, "GNTTABOP_set_version(%u)", version);
    expect_eq(sv.version, want_version, "GNTTABOP_set_version(%u) reports version", version);
    struct gnttab_get_version gv = {.dom = DOMID_SELF};
    expect_eq(xen_grant_table_op(GNTTABOP_get_version, &gv, 1), 0, "GNTTABOP_get_version");
    expect_eq(gv.version, want_version, "GNTTABOP_get_version after set_version(%u)", version);
}

static void status_frames(void)
{
    struct xen_add_to_physmap xatp = {.domid = DOMID_SELF, .space = XENMAPSPACE_grant_table,
                                      .idx = 0 | XENMAPIDX_grant_table_status, .gpfn = GNTTAB_STATUS_GPFN};
    expect_eq(xen_memory_op(XENMEM_add_to_physmap, &xatp), 0, "add_to_physmap(grant status frame 0)");
    static uint64_t frames[1];
    struct gnttab_get_status_frames gs = {.nr_frames = 1, .dom = DOMID_SELF};
    set_xen_guest_handle(gs.frame_list, frames);
    expect_eq(xen_grant_table_op(GNTTABOP_get_status_frames, &gs, 1), 0, "GNTTABOP_get_status_frames");
    expect_eq(gs.status, GNTST_okay, "GNTTABOP_get_status_frames status");
    expect_eq((long)frames[0], (long)GNTTAB_STATUS_GPFN, "get_status_frames reports where we mapped it");
    gs.nr_frames = 100;
    expect_eq(xen_grant_table_op(GNTTABOP_get_status_frames, &gs, 1), 0, "GNTTABOP_get_status_frames(100)");
    expect_eq(gs.status, GNTST_general_error, "get_status_frames for more frames than exist");
}

static void v2_phase(void)
{
    switch_version(2, 0, 2);
    expect_eq(v2(REF_A)->hdr.flags, 0, "switching to v2 cleared our (non-reserved) entries");
    status_frames();
    grant_v2(REF_A, abi_domid(), PG_DATA_A, GTF_permit_access, 0, 0);
    grant_v2(REF_B, abi_domid(), PG_DATA_B, GTF_permit_access, 0, 0);
    grant_v2(REF_RO, abi_domid(), PG_DATA_RO, GTF_permit_access | GTF_readonly, 0, 0);
    grant_v2(REF_DOM0, 0, PG_DATA_A, GTF_permit_access, 0, 0);
    grant_v2(REF_SUB, abi_domid(), PG_DATA_SUB, GTF_permit_access | GTF_sub_page, SUB_OFF, SUB_LEN);
    common_copies("v2");
    expect_eq(*status_word(REF_A), 0, "v2 status word of A clear after copies");
    expect_eq(*status_word(REF_B), 0, "v2 status word of B clear after copies");
    copy(by_ref(REF_A, 0), by_ref(REF_SUB, SUB_OFF), SUB_LEN, GNTST_okay, "v2 into a sub-page window");
    expect_true(page_is(PG_DATA_SUB, SUB_OFF, SUB_LEN, 0xa1) && page_is(PG_DATA_SUB, 0, SUB_OFF, 0) &&
                    page_is(PG_DATA_SUB, SUB_OFF + SUB_LEN, PAGE_SIZE - SUB_OFF - SUB_LEN, 0),
                "v2 sub-page copy stayed inside its window");
    copy(by_ref(REF_A, 0), by_ref(REF_SUB, 0), 16, GNTST_general_error, "v2 before a sub-page window");
    copy(by_ref(REF_A, 0), by_ref(REF_SUB, SUB_OFF + SUB_LEN - 8), 16, GNTST_general_error,
         "v2 across a sub-page window's end");
    switch_version(3, -XEN_EINVAL, 2);
    switch_version(1, 0, 1);
    expect_eq(v1(REF_A)->flags, 0, "switching back to v1 cleared our entries");
}

void phase_gnttab(void)
{
    note("xen-abi: grant tables v1 and v2\n");
    table_setup();
    v1_phase();
    v2_phase();
}
