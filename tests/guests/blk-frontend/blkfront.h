/* Test guest "blk-frontend": a minimal, hostile blkfront. Shared declarations of its wire
 * format (blkif's x86_64 layout in both flavours), its pages and grant refs, the ring and
 * XenBus helpers, the check reporting and the request sets. */
#ifndef BLK_FRONTEND_H
#define BLK_FRONTEND_H

#include "../frontend-common/frontend.h"
#include <xen/io/blkif.h>

/* ---- wire format: kxen serves only "x86_64-abi", so the 32-bit flavour sends the 64-bit
 * layout too (explicit padding, no implicit holes in either ABI) ---- */
#define BLK_SLOT_SIZE 112u
struct blk_seg {
    uint32_t gref;
    uint8_t first_sect, last_sect;
    uint16_t pad;
};
struct blk_rw {               /* READ, WRITE, FLUSH_DISKCACHE, WRITE_BARRIER, unknown ops */
    uint8_t operation, nr_segments;
    uint16_t handle;
    uint32_t pad;
    uint64_t id, sector;
    struct blk_seg seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};
struct blk_discard {
    uint8_t operation, flag;
    uint16_t handle;
    uint32_t pad;
    uint64_t id, sector, nr_sectors;
};
struct blk_indirect {
    uint8_t operation, indirect_op;
    uint16_t nr_segments;
    uint32_t pad;
    uint64_t id, sector;
    uint16_t handle, pad2;
    uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};
union blk_slot {
    struct blk_rw rw;
    struct blk_discard discard;
    struct blk_indirect ind;
    uint8_t raw[BLK_SLOT_SIZE];
};
struct blk_rsp {
    uint64_t id;
    uint8_t operation, pad;
    int16_t status;
    uint32_t pad2;
};
/* The shared ring (DEFINE_RING_TYPES): a 64-byte header, then 112-byte slots. */
struct blk_sring {
    uint32_t req_prod, req_event, rsp_prod, rsp_event;
    uint8_t pad[48];
    union blk_slot ring[];
};
_Static_assert(sizeof(struct blk_rw) == BLK_SLOT_SIZE, "blkif_request is 112 bytes");
_Static_assert(__builtin_offsetof(struct blk_rw, id) == 8 && __builtin_offsetof(struct blk_rw, seg) == 24,
               "blkif_request offsets");
_Static_assert(__builtin_offsetof(struct blk_discard, nr_sectors) == 24, "discard offsets");
_Static_assert(__builtin_offsetof(struct blk_indirect, indirect_grefs) == 28, "indirect offsets");
_Static_assert(sizeof(union blk_slot) == BLK_SLOT_SIZE && sizeof(struct blk_rsp) == 16, "slot sizes");
_Static_assert(__builtin_offsetof(struct blk_sring, ring) == 64, "ring header");
#ifdef __x86_64__
/* Here Xen's own types have the x86_64 layout: ours must match them. */
_Static_assert(sizeof(blkif_request_t) == sizeof(struct blk_rw), "blkif_request size");
_Static_assert(__builtin_offsetof(blkif_request_t, sector_number) == __builtin_offsetof(struct blk_rw, sector),
               "sector_number");
_Static_assert(__builtin_offsetof(blkif_request_indirect_t, indirect_grefs) ==
                   __builtin_offsetof(struct blk_indirect, indirect_grefs), "indirect_grefs");
_Static_assert(__builtin_offsetof(blkif_request_discard_t, nr_sectors) ==
                   __builtin_offsetof(struct blk_discard, nr_sectors), "discard nr_sectors");
_Static_assert(sizeof(blkif_response_t) == sizeof(struct blk_rsp), "blkif_response size");
_Static_assert(__CONST_RING_SIZE(blkif, 4096) == 32, "one ring page holds 32 requests");
#endif

#define SECTORS_PER_PAGE 8u
#define INDIRECT_SEGS_PER_PAGE (PAGE_SIZE / sizeof(struct blk_seg))
#define BACKEND_MAX_INDIRECT 256u   /* feature-max-indirect-segments kxen offers */

/* ---- the guest's pages (identity-mapped .bss) and their grant refs to dom0 ---- */
#define RING_PAGES 4u               /* the second connection's ring-page-order 2 */
#define DATA_PAGES 48u
enum blk_page {
    BP_SHARED_INFO,
    BP_RING,                        /* BP_RING .. BP_RING + RING_PAGES - 1: contiguous */
    BP_INDIRECT = BP_RING + RING_PAGES,
    BP_INDIRECT2,
    BP_RO,                          /* granted read-only */
    BP_REVOKED,                     /* granted, then access ended */
    BP_DATA,                        /* BP_DATA .. BP_DATA + DATA_PAGES - 1 */
    BP_COUNT = BP_DATA + DATA_PAGES
};
uint8_t *bpage(unsigned which);
unsigned long bpage_pfn(unsigned which);
/* Page `which` is granted as ref REF_BASE + which (refs below 8 are reserved). */
#define REF_BASE 16u
static inline grant_ref_t ref_of(unsigned which) { return REF_BASE + which; }
void grant_page(unsigned which, int readonly);

/* ---- checks: frontend-common's, plus a response's status and echoed operation against the
 * expected ones, as one check ---- */
void check_rsp(const struct blk_rsp *rsp, int16_t status, uint8_t op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- XenBus (xenbus.c): the probe and the handshake ---- */
#define FRONTEND_DIR "device/vbd/51712"
const char *backend_dir(void);                                 /* read once by xenbus_probe() */
void xenbus_probe(void);
void set_frontend_state(unsigned state);
/* Polls the backend's state until it is `want` (or 10 s pass); returns the last state read. */
unsigned wait_backend_state(unsigned want);
/* Frontend Closing, Closed, Initialising; the backend must follow to InitWait. */
void xenbus_restart(const char *why);
/* After Connected: sectors, info, sector-size into `fe`. */
void read_disk_info(void);

/* ---- one connection (ring.c) ---- */
struct blkfront {
    unsigned order;                 /* ring-page-order: 2^order ring pages */
    unsigned nr_slots;
    struct blk_sring *sring;
    uint32_t req_prod_pvt, rsp_cons;
    evtchn_port_t port;
    uint64_t sectors;               /* from the backend at Connected */
    unsigned info, sector_size;
    int discard;                    /* feature-discard */
    int readonly;                   /* info has VDISK_READONLY */
};
extern struct blkfront fe;
/* Grants the ring, allocates a port for dom0, writes the nodes and state 3; waits for 4. */
void blk_connect(unsigned order);
/* Frontend Closing then Closed: the backend releases the ring (its grant flags clear). */
void blk_disconnect(void);
uint64_t next_id(void);
/* Copies the request into the next slot, publishes req_prod, kicks. */
void blk_push(const union blk_slot *req);
void blk_kick(void);
/* Waits up to `ms` for one response; 1 if one came (consumed), else 0. */
int blk_wait(struct blk_rsp *out, unsigned ms);
/* push + wait (10 s, fatal on timeout or on a response for another id). */
struct blk_rsp blk_do(const union blk_slot *req);

/* ---- requests (requests.c) ---- */
union blk_slot rw_req(uint8_t op, uint64_t sector, unsigned first_page, unsigned nr_pages);
union blk_slot indirect_req(uint8_t op, uint64_t sector, unsigned first_page, unsigned nr_segs);
union blk_slot discard_req(uint64_t sector, uint64_t nr_sectors);
/* Each sector: a "kxen-blk sector N" line, then bytes derived from N. */
void fill_pattern(uint8_t *buf, uint64_t sector, unsigned sectors);
int matches_pattern(const uint8_t *buf, uint64_t sector, unsigned sectors);
int is_zero(const uint8_t *buf, size_t len);
void clear_data_pages(unsigned pages);

/* ---- check sets ---- */
void wellformed_checks(void);       /* writable disk */
void readonly_checks(int prewritten);
void malformed_checks(void);
void still_served(const char *after);
extern int pattern_on_disk;         /* the disk holds fill_pattern() where the sets wrote it */
void multipage_checks(void);
void wild_producer(void);

/* Disk layout the sets share (512-byte sectors). */
#define DIRECT_SECTOR 0ull          /* 11 full pages, direct */
#define PARTIAL_SECTOR 88ull        /* sectors 2..5 of a page */
#define INDIRECT_SECTOR 128ull      /* 40 full pages, one indirect page */
#define INDIRECT_SEGS 40u
#define BARRIER_SECTOR 512ull
#define DISCARD_SECTOR 1024ull      /* 4 KiB aligned */

#endif
