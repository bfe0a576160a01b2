/* Test guest "physmap": XENMEM_add_to_physmap onto the guest's own RAM, as guests that carve
 * Xen's frames out of their image do. Xen replaces the RAM page at that GFN with the frame
 * (the old page leaves the physmap); kxen gives the RAM back once the frame moves away.
 *   1. grant frame 0 onto a RAM page: the call succeeds, the page now reads as the (zeroed)
 *      frame, and a grant entry written there is the one GNTTABOP_copy uses;
 *   2. grant frame 0 moved to a hole: the entry moves with it, the old GFN is RAM again;
 *   3. shared_info onto the grant frame's GFN: the grant frame leaves the physmap there;
 *   4. grant frame 0 onto a RAM page again, then shared_info moved onto plain RAM.
 * One "ok N ..." line per check on console_io; "physmap: N checks passed (B-bit)" at the end. */
#include "../xen-abi/abi.h"
#include <xen/arch-x86/cpuid.h>

#define REF 10

static uint8_t carved[4][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
enum { CARVE_FRAME, CARVE_DATA, CARVE_DEST, CARVE_SHINFO };

/* Our domain id, from the Xen HVM CPUID leaf (base + 4, ECX; XEN_HVM_CPUID_DOMID_PRESENT). */
static domid_t own_domid(void)
{
    uint32_t eax = hypercall_cpuid_base() + 4, ebx, ecx = 0, edx;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    if (!(eax & XEN_HVM_CPUID_DOMID_PRESENT))
        abi_fail("no domain id in CPUID");
    return (domid_t)ecx;
}

static unsigned long pfn_of(const void *p) { return (unsigned long)(uintptr_t)p >> PAGE_SHIFT; }
static volatile uint32_t *word(unsigned long gpfn, unsigned off)
{
    return (volatile uint32_t *)(uintptr_t)((gpfn << PAGE_SHIFT) + off);
}

static long map(unsigned space, unsigned long idx, unsigned long gpfn)
{
    struct xen_add_to_physmap xatp = {.domid = DOMID_SELF, .space = space, .idx = idx, .gpfn = gpfn};
    return xen_memory_op(XENMEM_add_to_physmap, &xatp);
}

/* Grants CARVE_DATA through the frame at gpfn and copies it into CARVE_DEST by that grant. */
static void copy_through_frame(unsigned long gpfn, const char *what)
{
    grant_entry_v1_t *e = (grant_entry_v1_t *)(uintptr_t)(gpfn << PAGE_SHIFT) + REF;
    e->domid = own_domid();  /* the grantee: ourselves */
    e->frame = (uint32_t)pfn_of(carved[CARVE_DATA]);
    __atomic_store_n(&e->flags, (uint16_t)GTF_permit_access, __ATOMIC_RELEASE);
    memset(carved[CARVE_DATA], 0xc3, PAGE_SIZE);
    memset(carved[CARVE_DEST], 0, PAGE_SIZE);
    gnttab_copy_t op;
    memset(&op, 0, sizeof(op));
    op.source.u.ref = REF;
    op.source.domid = DOMID_SELF;
    op.dest.u.gmfn = pfn_of(carved[CARVE_DEST]);
    op.dest.domid = DOMID_SELF;
    op.flags = GNTCOPY_source_gref;
    op.len = 64;
    op.status = 0x7fff;
    expect_eq(xen_grant_table_op(GNTTABOP_copy, &op, 1), 0, "GNTTABOP_copy by a grant in %s: hypercall", what);
    expect_eq(op.status, GNTST_okay, "GNTTABOP_copy by a grant in %s: status", what);
    expect_eq(carved[CARVE_DEST][63], 0xc3, "GNTTABOP_copy by a grant in %s: data", what);
}

static void grant_frame_over_ram(void)
{
    const unsigned long ram = pfn_of(carved[CARVE_FRAME]);
    *word(ram, 0) = 0x5a5a5a5au;
    *word(ram, 2048) = 0x5a5a5a5au;
    expect_eq(map(XENMAPSPACE_grant_table, 0, ram), 0, "add_to_physmap(grant frame 0) onto RAM gfn %#lx", ram);
    expect_eq(*word(ram, 2048), 0, "the RAM page at gfn %#lx is replaced by the (empty) grant frame", ram);
    copy_through_frame(ram, "the frame over RAM");

    expect_eq(map(XENMAPSPACE_grant_table, 0, GNTTAB_SHARED_GPFN), 0, "grant frame 0 moved to hole gfn %#lx",
              GNTTAB_SHARED_GPFN);
    expect_eq(((grant_entry_v1_t *)(uintptr_t)(GNTTAB_SHARED_GPFN << PAGE_SHIFT))[REF].frame,
              (long long)pfn_of(carved[CARVE_DATA]), "the grant entry moved with the frame");
    *word(ram, 16) = 0x12345678u;
    expect_eq(*word(ram, 16), 0x12345678, "gfn %#lx is writable RAM again once the frame left", ram);
    copy_through_frame(GNTTAB_SHARED_GPFN, "the frame in a hole");
}

static void shared_info_over_frames(void)
{
    const unsigned long frame_gfn = GNTTAB_SHARED_GPFN;
    expect_eq(map(XENMAPSPACE_shared_info, 0, frame_gfn), 0, "add_to_physmap(shared_info) onto the grant frame's gfn");
    const struct shared_info *si = (const struct shared_info *)(uintptr_t)(frame_gfn << PAGE_SHIFT);
    expect_eq((long long)si->evtchn_mask[0], (long long)~(xen_ulong_t)0,
              "gfn %#lx is now shared_info (every port masked)", frame_gfn);
    const unsigned long ram = pfn_of(carved[CARVE_FRAME]);
    expect_eq(map(XENMAPSPACE_grant_table, 0, ram), 0, "the evicted grant frame maps onto RAM again");
    expect_eq(((grant_entry_v1_t *)(uintptr_t)(ram << PAGE_SHIFT))[REF].frame, (long long)pfn_of(carved[CARVE_DATA]),
              "the evicted frame kept its entries");
    copy_through_frame(ram, "the re-mapped frame");

    const unsigned long shinfo = pfn_of(carved[CARVE_SHINFO]);
    memset(carved[CARVE_SHINFO], 0x5a, PAGE_SIZE);
    expect_eq(map(XENMAPSPACE_shared_info, 0, shinfo), 0, "shared_info moved onto RAM gfn %#lx", shinfo);
    expect_eq((long long)((const struct shared_info *)carved[CARVE_SHINFO])->evtchn_mask[1], (long long)~(xen_ulong_t)0,
              "the RAM page became shared_info");
    *word(frame_gfn, 0) = 0x77777777u;
    expect_true(*word(frame_gfn, 0) != 0x77777777u, "shared_info's old gfn %#lx left the physmap", frame_gfn);
}

int main(void)
{
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    grant_frame_over_ram();
    shared_info_over_frames();
    xen_console_printf("physmap: %u checks passed (" KXEN_RT_BITS ")\n", checks_passed());
    return 0;
}
