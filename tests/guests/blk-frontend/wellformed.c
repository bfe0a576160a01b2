/* Well-formed requests: direct and indirect writes read back, partial pages, flush and barrier,
 * discard, a write from a read-only grant, the disk's last sectors; the read-only disk's
 * refusals; and 64 requests in flight on the 4-page ring of the second connection. */
#include "blkfront.h"

#define EVENT_WAIT_MS 1000u
#define RO_WRITE_SECTOR 600ull
#define BATCH 112u  /* slots 0-111 of a fresh 128-slot ring: all 4 pages */

int pattern_on_disk;

/* The backend raises our port after publishing; the bit may land just after rsp_prod. */
static void expect_event(const char *what)
{
    int pending = port_pending(fe.port);
    for (uint64_t end = deadline_after(EVENT_WAIT_MS); !pending && !deadline_passed(end);)
        pending = port_pending(fe.port);
    check_true(pending, "%s: the backend raised port %u", what, fe.port);
    port_clear(fe.port);
}

static void expect_ok(union blk_slot r, uint8_t op, const char *what)
{
    struct blk_rsp rsp = blk_do(&r);
    check_rsp(&rsp, BLKIF_RSP_OKAY, op, "%s", what);
}

static void expect_status(union blk_slot r, int16_t status, uint8_t op, const char *what)
{
    struct blk_rsp rsp = blk_do(&r);
    check_rsp(&rsp, status, op, "%s", what);
}

static void direct_pages(void)
{
    fill_pattern(bpage(BP_DATA), DIRECT_SECTOR, 11 * SECTORS_PER_PAGE);
    expect_ok(rw_req(BLKIF_OP_WRITE, DIRECT_SECTOR, 0, 11), BLKIF_OP_WRITE,
              "direct write of 11 pages (sectors 0-87)");
    expect_event("first response");
    expect_ok(rw_req(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0), BLKIF_OP_FLUSH_DISKCACHE, "flush without segments");
    clear_data_pages(11);
    expect_ok(rw_req(BLKIF_OP_READ, DIRECT_SECTOR, 0, 11), BLKIF_OP_READ, "direct read of 11 pages");
    check_true(matches_pattern(bpage(BP_DATA), DIRECT_SECTOR, 88), "sectors 0-87 read back as written");
}

/* Sectors 2..5 of one page written, read back into sectors 4..7 of another. */
static void partial_pages(void)
{
    fill_pattern(bpage(BP_DATA) + 2 * 512, PARTIAL_SECTOR, 4);
    union blk_slot w = rw_req(BLKIF_OP_WRITE, PARTIAL_SECTOR, 0, 1);
    w.rw.seg[0].first_sect = 2;
    w.rw.seg[0].last_sect = 5;
    expect_ok(w, BLKIF_OP_WRITE, "write of page sectors 2-5");
    clear_data_pages(2);
    union blk_slot r = rw_req(BLKIF_OP_READ, PARTIAL_SECTOR, 1, 1);
    r.rw.seg[0].first_sect = 4;
    r.rw.seg[0].last_sect = 7;
    expect_ok(r, BLKIF_OP_READ, "read into page sectors 4-7");
    uint8_t *page = bpage(BP_DATA + 1);
    check_true(matches_pattern(page + 4 * 512, PARTIAL_SECTOR, 4) && bpage(BP_DATA + 1)[4 * 512 - 1] == 0xee,
               "the 4 sectors landed at sector 4 of the page, nothing before them");
}

static void indirect_pages(void)
{
    const unsigned sectors = INDIRECT_SEGS * SECTORS_PER_PAGE;
    fill_pattern(bpage(BP_DATA), INDIRECT_SECTOR, sectors);
    expect_ok(indirect_req(BLKIF_OP_WRITE, INDIRECT_SECTOR, 0, INDIRECT_SEGS), BLKIF_OP_WRITE,
              "indirect write of 40 segments (sectors 128-447)");
    clear_data_pages(INDIRECT_SEGS);
    expect_ok(indirect_req(BLKIF_OP_READ, INDIRECT_SECTOR, 0, INDIRECT_SEGS), BLKIF_OP_READ,
              "indirect read of 40 segments");
    check_true(matches_pattern(bpage(BP_DATA), INDIRECT_SECTOR, sectors), "sectors 128-447 read back as written");
}

static void barrier_and_ro_source(void)
{
    fill_pattern(bpage(BP_DATA), BARRIER_SECTOR, SECTORS_PER_PAGE);
    expect_ok(rw_req(BLKIF_OP_WRITE_BARRIER, BARRIER_SECTOR, 0, 1), BLKIF_OP_WRITE_BARRIER,
              "write barrier with one page (sectors 512-519)");
    fill_pattern(bpage(BP_RO), RO_WRITE_SECTOR, SECTORS_PER_PAGE);
    union blk_slot w = rw_req(BLKIF_OP_WRITE, RO_WRITE_SECTOR, 0, 1);
    w.rw.seg[0].gref = ref_of(BP_RO);
    expect_ok(w, BLKIF_OP_WRITE, "write from a read-only grant");
    clear_data_pages(2);
    expect_ok(rw_req(BLKIF_OP_READ, BARRIER_SECTOR, 0, 1), BLKIF_OP_READ, "read of the barrier's page");
    expect_ok(rw_req(BLKIF_OP_READ, RO_WRITE_SECTOR, 1, 1), BLKIF_OP_READ, "read of the read-only grant's page");
    check_true(matches_pattern(bpage(BP_DATA), BARRIER_SECTOR, 8) &&
                   matches_pattern(bpage(BP_DATA + 1), RO_WRITE_SECTOR, 8),
               "barrier and read-only-grant data read back");
}

static void last_sectors(void)
{
    const uint64_t last = fe.sectors - SECTORS_PER_PAGE;
    fill_pattern(bpage(BP_DATA), last, SECTORS_PER_PAGE);
    expect_ok(rw_req(BLKIF_OP_WRITE, last, 0, 1), BLKIF_OP_WRITE, "write of the disk's last 8 sectors");
    clear_data_pages(2);
    expect_ok(rw_req(BLKIF_OP_READ, last, 0, 1), BLKIF_OP_READ, "read of the disk's last 8 sectors");
    check_true(matches_pattern(bpage(BP_DATA), last, SECTORS_PER_PAGE), "the last sectors read back");
}

static void discard(void)
{
    if (!fe.discard) {
        expect_status(discard_req(DISCARD_SECTOR, 8), BLKIF_RSP_EOPNOTSUPP, BLKIF_OP_DISCARD,
                      "discard without feature-discard");
        return;
    }
    fill_pattern(bpage(BP_DATA), DISCARD_SECTOR, SECTORS_PER_PAGE);
    expect_ok(rw_req(BLKIF_OP_WRITE, DISCARD_SECTOR, 0, 1), BLKIF_OP_WRITE, "write before discard");
    expect_ok(discard_req(DISCARD_SECTOR, SECTORS_PER_PAGE), BLKIF_OP_DISCARD, "discard of sectors 1024-1031");
    clear_data_pages(2);
    expect_ok(rw_req(BLKIF_OP_READ, DISCARD_SECTOR, 0, 1), BLKIF_OP_READ, "read after discard");
    check_true(is_zero(bpage(BP_DATA), PAGE_SIZE), "discarded sectors read as zeros");
}

void wellformed_checks(void)
{
    direct_pages();
    partial_pages();
    indirect_pages();
    barrier_and_ro_source();
    last_sectors();
    discard();
    pattern_on_disk = 1;
}

/* `prewritten`: a writable run left its pattern on this image. */
void readonly_checks(int prewritten)
{
    pattern_on_disk = prewritten;
    check_eq(fe.discard, 0, "no feature-discard on a read-only disk");
    clear_data_pages(11);
    expect_ok(rw_req(BLKIF_OP_READ, DIRECT_SECTOR, 0, 11), BLKIF_OP_READ, "read-only disk: direct read");
    expect_event("first response");
    if (prewritten)
        check_true(matches_pattern(bpage(BP_DATA), DIRECT_SECTOR, 88),
                   "read-only disk: sectors 0-87 as the writable run left them");
    clear_data_pages(INDIRECT_SEGS);
    expect_ok(indirect_req(BLKIF_OP_READ, INDIRECT_SECTOR, 0, INDIRECT_SEGS), BLKIF_OP_READ,
              "read-only disk: indirect read of 40 segments");
    if (prewritten)
        check_true(matches_pattern(bpage(BP_DATA), INDIRECT_SECTOR, INDIRECT_SEGS * SECTORS_PER_PAGE),
                   "read-only disk: sectors 128-447 as the writable run left them");
    expect_status(rw_req(BLKIF_OP_WRITE, DIRECT_SECTOR, 0, 1), BLKIF_RSP_ERROR, BLKIF_OP_WRITE,
                  "read-only disk: write");
    expect_status(indirect_req(BLKIF_OP_WRITE, INDIRECT_SECTOR, 0, 8), BLKIF_RSP_ERROR, BLKIF_OP_WRITE,
                  "read-only disk: indirect write");
    expect_status(rw_req(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 1), BLKIF_RSP_ERROR, BLKIF_OP_FLUSH_DISKCACHE,
                  "read-only disk: flush carrying a page");
    expect_status(rw_req(BLKIF_OP_WRITE_BARRIER, 0, 0, 1), BLKIF_RSP_ERROR, BLKIF_OP_WRITE_BARRIER,
                  "read-only disk: barrier carrying a page");
    /* The decoder lets a data-less flush through (it changes nothing) but not a data-less barrier. */
    expect_status(rw_req(BLKIF_OP_WRITE_BARRIER, 0, 0, 0), BLKIF_RSP_ERROR, BLKIF_OP_WRITE_BARRIER,
                  "read-only disk: barrier without segments");
    expect_ok(rw_req(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0), BLKIF_OP_FLUSH_DISKCACHE,
              "read-only disk: flush without segments");
    expect_status(discard_req(DISCARD_SECTOR, 8), BLKIF_RSP_EOPNOTSUPP, BLKIF_OP_DISCARD, "read-only disk: discard");
    if (prewritten) {
        expect_ok(rw_req(BLKIF_OP_READ, DIRECT_SECTOR, 0, 1), BLKIF_OP_READ,
                  "read-only disk: read after the refusals");
        check_true(matches_pattern(bpage(BP_DATA), DIRECT_SECTOR, 8), "sectors 0-7 unchanged");
    }
}

/* A well-formed read after `after`: served, and right if the pattern is known. */
void still_served(const char *after)
{
    clear_data_pages(2);
    union blk_slot r = rw_req(BLKIF_OP_READ, DIRECT_SECTOR, 0, 2);
    struct blk_rsp rsp = blk_do(&r);
    check_rsp(&rsp, BLKIF_RSP_OKAY, BLKIF_OP_READ, "a read after %s", after);
    if (pattern_on_disk)
        check_true(matches_pattern(bpage(BP_DATA), DIRECT_SECTOR, 16), "it read the right data after %s", after);
}

/* 112 one-sector reads pushed before one kick: slots on all 4 ring pages, and slots 72 and 109
 * straddle a page boundary (the backend maps the pages separately). */
void multipage_checks(void)
{
    clear_data_pages(BATCH / SECTORS_PER_PAGE);
    const uint64_t first_id = next_id() + 1;
    for (unsigned k = 0; k < BATCH; k++) {
        union blk_slot r = rw_req(BLKIF_OP_READ, INDIRECT_SECTOR + k, k / SECTORS_PER_PAGE, 1);
        r.rw.seg[0].first_sect = r.rw.seg[0].last_sect = (uint8_t)(k % SECTORS_PER_PAGE);
        blk_push(&r);
    }
    blk_kick();
    static uint8_t seen[BATCH];
    unsigned ok = 0, got = 0;
    memset(seen, 0, sizeof(seen));
    struct blk_rsp rsp;
    while (got < BATCH && blk_wait(&rsp, 10000)) {
        got++;
        const uint64_t k = rsp.id - first_id;
        if (k < BATCH && !seen[k] && rsp.status == BLKIF_RSP_OKAY && rsp.operation == BLKIF_OP_READ)
            ok++;
        if (k < BATCH)
            seen[k] = 1;
    }
    check_eq(got, BATCH, "4-page ring: responses to %u reads in flight", BATCH);
    check_eq(ok, BATCH, "4-page ring: each read answered once, OKAY");
    expect_event("4-page ring");
    if (pattern_on_disk)
        check_true(matches_pattern(bpage(BP_DATA), INDIRECT_SECTOR, BATCH), "4-page ring: %u sectors read right",
                   BATCH);
}
