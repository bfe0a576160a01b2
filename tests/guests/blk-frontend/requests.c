/* Building blkif requests over the guest's data pages, and the data pattern they carry: every
 * sector starts with a "kxen-blk sector N" line the host case can find in the image. */
#include "blkfront.h"

#define TAG_LEN 25u  /* "kxen-blk sector 00000000\n" */

static struct blk_seg full_page(unsigned data_page)
{
    struct blk_seg s = {.gref = ref_of(BP_DATA + data_page), .first_sect = 0,
                        .last_sect = SECTORS_PER_PAGE - 1, .pad = 0};
    return s;
}

union blk_slot rw_req(uint8_t op, uint64_t sector, unsigned first_page, unsigned nr_pages)
{
    union blk_slot r;
    memset(&r, 0, sizeof(r));
    r.rw.operation = op;
    r.rw.nr_segments = (uint8_t)nr_pages;
    r.rw.handle = 51712 & 0xffff;
    r.rw.id = next_id();
    r.rw.sector = sector;
    for (unsigned i = 0; i < nr_pages && i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++)
        r.rw.seg[i] = full_page(first_page + i);
    return r;
}

/* Segments in BP_INDIRECT (granted read-only, as blkfront does), one full data page each;
 * beyond the last data page they wrap around (fine for reads of up to 256 segments). */
union blk_slot indirect_req(uint8_t op, uint64_t sector, unsigned first_page, unsigned nr_segs)
{
    union blk_slot r;
    memset(&r, 0, sizeof(r));
    struct blk_seg *segs = (struct blk_seg *)(void *)bpage(BP_INDIRECT);
    memset(segs, 0, PAGE_SIZE);
    for (unsigned i = 0; i < nr_segs && i < INDIRECT_SEGS_PER_PAGE; i++)
        segs[i] = full_page((first_page + i) % DATA_PAGES);
    r.ind.operation = BLKIF_OP_INDIRECT;
    r.ind.indirect_op = op;
    r.ind.nr_segments = (uint16_t)nr_segs;
    r.ind.id = next_id();
    r.ind.sector = sector;
    r.ind.handle = 51712 & 0xffff;
    r.ind.indirect_grefs[0] = ref_of(BP_INDIRECT);
    return r;
}

union blk_slot discard_req(uint64_t sector, uint64_t nr_sectors)
{
    union blk_slot r;
    memset(&r, 0, sizeof(r));
    r.discard.operation = BLKIF_OP_DISCARD;
    r.discard.handle = 51712 & 0xffff;
    r.discard.id = next_id();
    r.discard.sector = sector;
    r.discard.nr_sectors = nr_sectors;
    return r;
}

static uint8_t pattern_byte(uint32_t sector, uint32_t i) { return (uint8_t)(sector * 31u + i * 7u + 0x5au); }

void fill_pattern(uint8_t *buf, uint64_t sector, unsigned sectors)
{
    for (unsigned s = 0; s < sectors; s++) {
        uint8_t *p = buf + (size_t)s * 512;
        uint32_t n = (uint32_t)(sector + s);
        rt_snprintf((char *)p, TAG_LEN + 1, "kxen-blk sector %08u\n", n);
        for (uint32_t i = TAG_LEN; i < 512; i++)
            p[i] = pattern_byte(n, i);
    }
}

int matches_pattern(const uint8_t *buf, uint64_t sector, unsigned sectors)
{
    static uint8_t want[512];
    for (unsigned s = 0; s < sectors; s++) {
        fill_pattern(want, sector + s, 1);
        if (memcmp(buf + (size_t)s * 512, want, 512) != 0)
            return 0;
    }
    return 1;
}

int is_zero(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != 0)
            return 0;
    return 1;
}

/* Scribbles over the first `pages` data pages so a read that moved nothing cannot pass (only
 * those: guest instructions are slow under a software KVM). */
void clear_data_pages(unsigned pages) { memset(bpage(BP_DATA), 0xee, (size_t)pages * PAGE_SIZE); }
