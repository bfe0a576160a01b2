/* Malformed requests, each answered with the status kxen's decoder (devices/blk/blkif_request.cpp)
 * or its grant mapping gives: BLKIF_RSP_ERROR, or BLKIF_RSP_EOPNOTSUPP for what is not offered.
 * Then the last attack: a wild req_prod, after which the backend must drop the ring. */
#include "blkfront.h"

#define SILENCE_MS 500u
#define ERR BLKIF_RSP_ERROR
#define RD BLKIF_OP_READ

static void expect_status(union blk_slot r, int16_t status, uint8_t op, const char *what)
{
    struct blk_rsp rsp = blk_do(&r);
    check_rsp(&rsp, status, op, "%s", what);
}

static int all_bytes(const uint8_t *p, size_t len, uint8_t value)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != value)
            return 0;
    return 1;
}

static int no_pin(unsigned which) { return (grant_flags(ref_of(which)) & (GTF_reading | GTF_writing)) == 0; }

static union blk_slot read_with_ref(grant_ref_t ref)
{
    union blk_slot r = rw_req(RD, DIRECT_SECTOR, 0, 1);
    r.rw.seg[0].gref = ref;
    return r;
}

static void bad_grants(void)
{
    expect_status(read_with_ref(REF_BEYOND), ERR, RD, "read into ref 100000 (beyond the grant table)");
    expect_status(read_with_ref(REF_UNGRANTED), ERR, RD, "read into ref 300 (never granted)");
    grant_page(BP_REVOKED, 0);
    end_grant(ref_of(BP_REVOKED));
    expect_status(read_with_ref(ref_of(BP_REVOKED)), ERR, RD, "read into a revoked grant");
    memset(bpage(BP_RO), 0x3c, PAGE_SIZE);
    expect_status(read_with_ref(ref_of(BP_RO)), ERR, RD, "read into a read-only grant");
    check_true(all_bytes(bpage(BP_RO), PAGE_SIZE, 0x3c), "the read-only page is untouched");
    union blk_slot r = rw_req(RD, DIRECT_SECTOR, 0, 2);
    r.rw.seg[1].gref = REF_BEYOND;
    expect_status(r, ERR, RD, "read with a good segment, then a bad grant");
    check_true(no_pin(BP_DATA) && no_pin(BP_RO), "no grant left pinned by the refused requests");
}

static void bad_segment_counts(void)
{
    expect_status(rw_req(RD, DIRECT_SECTOR, 0, 0), ERR, RD, "read with nr_segments 0");
    expect_status(rw_req(BLKIF_OP_WRITE, DIRECT_SECTOR, 0, 0), ERR, BLKIF_OP_WRITE, "write with nr_segments 0");
    union blk_slot r = rw_req(RD, DIRECT_SECTOR, 0, 11);
    r.rw.nr_segments = 12;
    expect_status(r, ERR, RD, "direct read with nr_segments 12");
    r.rw.nr_segments = 255;
    expect_status(r, ERR, RD, "direct read with nr_segments 255");
    expect_status(indirect_req(RD, 0, 0, BACKEND_MAX_INDIRECT), BLKIF_RSP_OKAY, RD,
                  "indirect read of 256 segments (the offered maximum)");
    expect_status(indirect_req(RD, 0, 0, BACKEND_MAX_INDIRECT + 1), ERR, RD, "indirect read of 257 segments");
    expect_status(indirect_req(RD, 0, 0, 0xffff), ERR, RD, "indirect read of 65535 segments");
    expect_status(indirect_req(RD, 0, 0, 0), ERR, RD, "indirect read of 0 segments");
}

static void bad_indirect_pages(void)
{
    union blk_slot r = indirect_req(RD, INDIRECT_SECTOR, 0, 8);
    r.ind.indirect_grefs[0] = REF_UNGRANTED;
    expect_status(r, ERR, RD, "indirect page not granted");
    r.ind.indirect_grefs[0] = REF_BEYOND;
    expect_status(r, ERR, RD, "indirect page ref beyond the table");
    r = indirect_req(RD, INDIRECT_SECTOR, 0, 200);
    struct blk_seg *segs = (struct blk_seg *)(void *)bpage(BP_INDIRECT);
    for (unsigned i = 0; i < INDIRECT_SEGS_PER_PAGE; i++)  /* garbage refs, sane sectors */
        segs[i].gref = 0x40000000u + i * 0x1234567u;
    expect_status(r, ERR, RD, "indirect page full of garbage refs");
    memset(segs, 0xff, PAGE_SIZE);
    expect_status(r, ERR, RD, "indirect page of all-ones bytes");
    r = indirect_req(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 8);
    expect_status(r, ERR, BLKIF_OP_FLUSH_DISKCACHE, "indirect with indirect_op FLUSH_DISKCACHE");
    r = indirect_req(BLKIF_OP_INDIRECT, 0, 0, 8);
    expect_status(r, ERR, BLKIF_OP_INDIRECT, "indirect with indirect_op INDIRECT");
}

static void bad_ranges(void)
{
    union blk_slot r = rw_req(RD, DIRECT_SECTOR, 0, 1);
    r.rw.seg[0].first_sect = 5;
    r.rw.seg[0].last_sect = 2;
    expect_status(r, ERR, RD, "segment with first_sect 5 > last_sect 2");
    r.rw.seg[0].first_sect = 0;
    r.rw.seg[0].last_sect = 8;
    expect_status(r, ERR, RD, "segment with last_sect 8");
    const uint64_t n = fe.sectors;
    expect_status(rw_req(RD, n - 4, 0, 1), ERR, RD, "read of 8 sectors from 4 before the end");
    if (!fe.readonly)
        expect_status(rw_req(BLKIF_OP_WRITE, n - 4, 0, 1), ERR, BLKIF_OP_WRITE,
                      "write of 8 sectors from 4 before the end");
    r = rw_req(RD, n, 0, 1);
    r.rw.seg[0].last_sect = 0;
    expect_status(r, ERR, RD, "read of 1 sector at the end");
    expect_status(rw_req(RD, ~0ull - 3, 0, 1), ERR, RD, "read of 8 sectors at UINT64_MAX - 3 (wraps)");
    expect_status(rw_req(RD, ~0ull, 0, 11), ERR, RD, "read of 88 sectors at UINT64_MAX");
    expect_status(indirect_req(RD, n - 39 * SECTORS_PER_PAGE, 0, INDIRECT_SEGS), ERR, RD,
                  "indirect read of 40 pages from 39 pages before the end");
}

static void bad_operations(void)
{
    static const uint8_t unknown[] = {BLKIF_OP_RESERVED_1, 7, 0x80, 0xff};
    for (unsigned i = 0; i < sizeof(unknown); i++) {
        char what[32];
        union blk_slot r = rw_req(RD, DIRECT_SECTOR, 0, 1);
        r.rw.operation = unknown[i];
        rt_snprintf(what, sizeof(what), "unknown operation %u", unknown[i]);
        expect_status(r, BLKIF_RSP_EOPNOTSUPP, unknown[i], what);
    }
    /* Not offered (read-only disk, or no hole punching): EOPNOTSUPP before any range check. */
    const int16_t want = fe.discard ? ERR : BLKIF_RSP_EOPNOTSUPP;
    expect_status(discard_req(fe.sectors - 4, 8), want, BLKIF_OP_DISCARD,
                  "discard of 8 sectors from 4 before the end");
    expect_status(discard_req(~0ull - 3, 8), want, BLKIF_OP_DISCARD, "discard at UINT64_MAX - 3 (wraps)");
    expect_status(discard_req(0, ~0ull), want, BLKIF_OP_DISCARD, "discard of UINT64_MAX sectors");
}

/* Three requests before one kick: the bad one fails alone. */
static void mixed_batch(void)
{
    union blk_slot r[3] = {rw_req(RD, DIRECT_SECTOR, 0, 1), read_with_ref(REF_BEYOND),
                           rw_req(RD, DIRECT_SECTOR, 1, 1)};
    for (unsigned i = 0; i < 3; i++)
        blk_push(&r[i]);
    blk_kick();
    int16_t status[3] = {99, 99, 99};
    struct blk_rsp rsp;
    for (unsigned got = 0; got < 3 && blk_wait(&rsp, 10000); got++)
        for (unsigned i = 0; i < 3; i++)
            if (rsp.id == r[i].rw.id)
                status[i] = rsp.status;
    check_true(status[0] == 0 && status[1] == ERR && status[2] == 0,
               "batch good, bad grant, good: got %d %d %d, want 0 -1 0", status[0], status[1], status[2]);
}

void malformed_checks(void)
{
    bad_grants();
    bad_segment_counts();
    bad_indirect_pages();
    bad_ranges();
    bad_operations();
    mixed_batch();
}

/* req_prod far ahead of anything the ring holds: the backend disables the ring (no response,
 * then not even to a well-formed request) and kxen goes on serving the guest. */
void wild_producer(void)
{
    const uint32_t rsp_before = fe.sring->rsp_prod;
    __atomic_store_n(&fe.sring->req_prod, fe.req_prod_pvt + 0x10000u, __ATOMIC_SEQ_CST);
    blk_kick();
    struct blk_rsp rsp;
    check_true(!blk_wait(&rsp, SILENCE_MS), "wild req_prod (+65536): no response within %u ms", SILENCE_MS);
    __atomic_store_n(&fe.sring->req_prod, fe.req_prod_pvt, __ATOMIC_SEQ_CST);
    union blk_slot r = rw_req(RD, DIRECT_SECTOR, 0, 1);
    blk_push(&r);
    blk_kick();
    check_true(!blk_wait(&rsp, SILENCE_MS), "the disabled ring ignores a well-formed request after it");
    check_eq(fe.sring->rsp_prod, rsp_before, "rsp_prod unchanged on the disabled ring");
    char state[8] = "?";
    char path[128];
    rt_snprintf(path, sizeof(path), "%s/state", backend_dir());
    check_true(xs_read_str(path, state, sizeof(state)), "XenStore still answers (backend state %s)", state);
}
