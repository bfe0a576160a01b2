/* The frontend's side of one blkif connection: its pages and their grants to dom0 (through
 * frontend-common's grants.c), the ring nodes and handshake, and pushing requests and reaping
 * responses one at a time (FRONT_RING semantics, written out for the x86_64 layout). */
#include "blkfront.h"

#define RESPONSE_WAIT_MS 10000u

static uint8_t pages[BP_COUNT][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint64_t id_counter;
struct blkfront fe;

uint8_t *bpage(unsigned which) { return pages[which]; }

/* The runtime runs identity-mapped: a page's address is its guest-physical address. */
unsigned long bpage_pfn(unsigned which) { return (unsigned long)(uintptr_t)pages[which] >> PAGE_SHIFT; }

void grant_page(unsigned which, int readonly) { grant_frame(ref_of(which), bpage_pfn(which), readonly); }

uint64_t next_id(void) { return 0x6b78656e00000000ull | ++id_counter; }  /* "kxen": all 64 bits echoed */

/* ---- the handshake ---- */
static void write_number(const char *key, unsigned long v)
{
    char path[64];
    rt_snprintf(path, sizeof(path), FRONTEND_DIR "/%s", key);
    xs_write_number(path, v);
}

void blk_connect(unsigned order)
{
    const unsigned nr_pages = 1u << order;
    memset(bpage(BP_RING), 0, (size_t)nr_pages * PAGE_SIZE);
    fe.order = order;
    fe.nr_slots = order == 0 ? 32u : 128u;  /* __RING_SIZE of 1 and 4 pages */
    fe.sring = (struct blk_sring *)(void *)bpage(BP_RING);
    fe.sring->req_event = fe.sring->rsp_event = 1;  /* SHARED_RING_INIT */
    fe.req_prod_pvt = fe.rsp_cons = 0;
    fe.port = alloc_port_for_dom0();
    for (unsigned i = 0; i < nr_pages; i++)
        grant_page(BP_RING + i, 0);
    xs_remove(FRONTEND_DIR "/ring-ref");
    xs_remove(FRONTEND_DIR "/ring-page-order");
    if (order == 0) {
        write_number("ring-ref", ref_of(BP_RING));
    } else {
        write_number("ring-page-order", order);
        for (unsigned i = 0; i < nr_pages; i++) {
            char key[16];
            rt_snprintf(key, sizeof(key), "ring-ref%u", i);
            write_number(key, ref_of(BP_RING + i));
        }
    }
    write_number("event-channel", fe.port);
    xs_write_str(FRONTEND_DIR "/protocol", "x86_64-abi");
    set_frontend_state(XenbusStateInitialised);
    check_eq(wait_backend_state(XenbusStateConnected), XenbusStateConnected,
             "ring of %u page(s), port %u: backend Connected", nr_pages, fe.port);
    read_disk_info();
}

void blk_disconnect(void)
{
    xenbus_restart("disconnect");
    int released = 1;
    for (unsigned i = 0; i < (1u << fe.order); i++) {
        released &= (grant_flags(ref_of(BP_RING + i)) & (GTF_reading | GTF_writing)) == 0;
        end_grant(ref_of(BP_RING + i));
    }
    check_true(released, "the backend released the %u ring page grant(s) when it closed", 1u << fe.order);
}

/* ---- requests and responses ---- */
void blk_kick(void) { kick(fe.port); }

void blk_push(const union blk_slot *req)
{
    memcpy(&fe.sring->ring[fe.req_prod_pvt & (fe.nr_slots - 1)], req, sizeof(*req));
    fe.req_prod_pvt++;
    __atomic_store_n(&fe.sring->req_prod, fe.req_prod_pvt, __ATOMIC_SEQ_CST);
}

int blk_wait(struct blk_rsp *out, unsigned ms)
{
    for (uint64_t end = deadline_after(ms);;) {
        if (__atomic_load_n(&fe.sring->rsp_prod, __ATOMIC_ACQUIRE) != fe.rsp_cons)
            break;
        if (deadline_passed(end))
            return 0;
    }
    memcpy(out, &fe.sring->ring[fe.rsp_cons & (fe.nr_slots - 1)], sizeof(*out));
    fe.rsp_cons++;
    /* Ask for an event at the next response, as RING_FINAL_CHECK_FOR_RESPONSES does. */
    __atomic_store_n(&fe.sring->rsp_event, fe.rsp_cons + 1, __ATOMIC_SEQ_CST);
    return 1;
}

struct blk_rsp blk_do(const union blk_slot *req)
{
    struct blk_rsp rsp;
    blk_push(req);
    blk_kick();
    if (!blk_wait(&rsp, RESPONSE_WAIT_MS))
        fatal("no response to request 0x%llx (op %u) within %u ms", (unsigned long long)req->rw.id,
              req->rw.operation, RESPONSE_WAIT_MS);
    if (rsp.id != req->rw.id)
        fatal("response for id 0x%llx, want 0x%llx", (unsigned long long)rsp.id, (unsigned long long)req->rw.id);
    return rsp;
}
