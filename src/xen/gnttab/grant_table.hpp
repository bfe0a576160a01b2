// The guest's grant table (v1 and v2): frames that live as GuestMemory overlays mapped by
// XENMEM_add_to_physmap, the GNTTABOP_* hypercall (including GNTTABOP_copy between the
// guest's own grants and frames), and the dom0 side kxen's backends use to map and copy
// granted pages.
//
// Lock order: GrantTable::mutex_ -> GuestMemory's mutex (leaf; its region listener runs
// under our lock when map_frame() moves a frame).
#pragma once

#include "xen/gnttab/grant_abi.hpp"

#include <cstdint>
#include <expected>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"

namespace kxen {

// Backends map and copy as dom0.
inline constexpr domid_t kBackendDomid = 0;

struct GrantTableConfig {
  domid_t domid = 1;              // the guest's own domain id
  std::uint32_t max_frames = 64;  // like xl's max_grant_frames
  std::uint32_t initial_frames = 1;
};

// A granted guest page mapped by a backend. Read-only grants never expose a writable span.
// The span stays addressable after unmap() (guest RAM is never freed) but must not be used.
class GrantMapping final {
 public:
  grant_ref_t ref() const { return ref_; }
  bool writable() const { return writable_; }
  std::span<const std::byte> data() const { return page_; }
  // Empty for read-only mappings.
  std::span<std::byte> writable_data() const { return writable_ ? page_ : std::span<std::byte>{}; }

 private:
  friend class GrantTable;
  GrantMapping(grant_ref_t ref, bool writable, std::span<std::byte> page) : ref_(ref), writable_(writable), page_(page) {}
  grant_ref_t ref_;
  bool writable_;
  std::span<std::byte> page_;
};

// One grant entry the guest has filled in, for the debugger's `monitor gnttab`.
struct GrantInfo {
  grant_ref_t ref = 0;
  std::uint16_t flags = 0;
  domid_t domid = 0;
  std::uint64_t frame = 0;
  std::uint32_t pins = 0;  // mappings and copies kxen holds on it now
};

class GrantTable final {
 public:
  GrantTable(const GrantTableConfig& config, GuestMemory& memory);
  GrantTable(const GrantTable&) = delete;
  GrantTable& operator=(const GrantTable&) = delete;

  // __HYPERVISOR_grant_table_op: args[0] = GNTTABOP_*, args[1] = ops (guest-virtual), args[2] = count.
  HypercallOutcome hypercall(const HypercallRequest& request, GuestVirtual& gva);

  // XENMEM_add_to_physmap(XENMAPSPACE_grant_table): maps shared frame `index` (or status frame
  // when is_status, i.e. idx had XENMAPIDX_grant_table_status) at gpfn. 0 or -XEN_E*.
  int map_frame(std::uint32_t index, bool is_status, std::uint64_t gpfn);
  std::uint32_t frame_count() const;
  std::uint32_t status_frame_count() const;
  std::uint32_t max_frames() const { return config_.max_frames; }
  std::uint32_t version() const;
  // Entries whose type is not GTF_invalid, in ref order, at most `limit` (read-only snapshot).
  std::vector<GrantInfo> entries_in_use(std::size_t limit) const;
  // Host storage of a frame once the guest has mapped it; nullptr before that.
  std::byte* shared_frame(std::uint32_t index) const;
  std::byte* status_frame(std::uint32_t index) const;

  // Guest operations on host copies of the structs; GNTST_* goes to op.status, the return is
  // 0 or -XEN_E* for the hypercall itself.
  int query_size(gnttab_query_size& op) const;
  int set_version(gnttab_set_version& op);
  int get_version(gnttab_get_version& op) const;
  // Grows the table to nr_frames and returns each frame's gfn (INVALID_GFN while unmapped).
  std::int16_t setup_table(domid_t dom, std::uint32_t nr_frames, std::vector<std::uint64_t>& gfns);
  std::int16_t get_status_frames(domid_t dom, std::uint32_t nr_frames, std::vector<std::uint64_t>& gfns) const;

  // Backend (dom0) side. Errors are GNTST_* codes.
  std::expected<GrantMapping, std::int16_t> map(grant_ref_t ref, bool writable);
  std::int16_t unmap(const GrantMapping& mapping);
  // A whole request's segments under one lock; a bad ref fails its own entry only.
  // `out` is cleared first; its capacity is reused.
  void map_batch(std::span<const grant_ref_t> refs, bool writable,
                 std::vector<std::expected<GrantMapping, std::int16_t>>& out);
  void unmap_batch(std::span<const GrantMapping> mappings);
  // GNTTABOP_copy between a grant and a host buffer; offset/length checked against the page
  // (GNTST_bad_copy_arg) and a v2 sub-page window.
  std::int16_t copy_from_grant(grant_ref_t ref, std::uint32_t offset, std::span<std::byte> out);
  std::int16_t copy_to_grant(grant_ref_t ref, std::uint32_t offset, std::span<const std::byte> in);

  // GNTTABOP_copy as the guest issues it, on a host copy of one op: grefs name the guest's
  // own grants to itself, gmfns its own RAM (DOMID_SELF only). Returns the op's GNTST_*.
  std::int16_t guest_copy(const gnttab_copy_t& op);

 private:
  struct Active {
    domid_t grantee = 0;            // who pinned it: dom0 (backends) or the guest (copy)
    std::uint32_t pins = 0;         // all mappings of the entry
    std::uint32_t write_pins = 0;   // writable mappings
    std::uint64_t gfn = 0;          // frame captured at the first pin
    std::uint16_t window_off = 0;   // sub-page window (whole page unless v2 GTF_sub_page)
    std::uint16_t window_len = kPageSize;
  };
  struct Frames {
    std::vector<std::optional<std::uint64_t>> gfn;  // per frame, where the guest mapped it
  };

  std::uint32_t entries_per_frame() const { return version_ == 1 ? kPageSize / 8 : kPageSize / 16; }
  std::uint32_t status_frames_for(std::uint32_t frames) const;
  std::int16_t check_dom(domid_t dom) const;
  bool grow_locked(std::uint32_t frames);
  std::byte* entry_locked(grant_ref_t ref) const;
  std::uint16_t* status_locked(grant_ref_t ref) const;
  // Xen's _set_status_v1/_v2: validates the entry and sets GTF_reading/GTF_writing.
  std::int16_t set_status_locked(grant_ref_t ref, bool writable, bool for_map, domid_t grantee, const Active& act,
                                 Active& fresh);
  void clear_status_locked(grant_ref_t ref, bool clear_reading, bool clear_writing);
  std::expected<Active*, std::int16_t> acquire_locked(grant_ref_t ref, bool writable, bool for_map, domid_t grantee);
  void release_locked(grant_ref_t ref, bool writable);
  std::optional<std::span<std::byte>> page_of(std::uint64_t gfn) const;
  std::expected<GrantMapping, std::int16_t> map_locked(grant_ref_t ref, bool writable);
  std::int16_t unmap_locked(const GrantMapping& mapping);
  void convert_reserved_locked(std::uint32_t to_version);
  // Copies len bytes into the grant from src (to_grant) or out of it into dst.
  std::int16_t copy(grant_ref_t ref, std::uint32_t offset, std::size_t len, bool to_grant, const std::byte* src,
                    std::byte* dst);
  // One side of a guest copy: a pinned grant or a plain frame, and the window it may touch.
  struct CopyBuf {
    std::byte* page = nullptr;
    std::uint32_t window_off = 0;
    std::uint32_t window_len = 0;
    bool pinned = false;  // a grant to release
    grant_ref_t ref = 0;
    bool writable = false;
  };
  std::int16_t claim_copy_locked(const gnttab_copy::gnttab_copy_ptr& ptr, bool is_gref, bool writable, CopyBuf& buf);
  // At most kHypercallWorkBudget ops, then a continuation on the rest.
  HypercallOutcome copy_ops(const HypercallRequest& request, GuestVirtual& gva);
  HypercallOutcome dispatch(const HypercallRequest& request, GuestVirtual& gva);

  const GrantTableConfig config_;
  GuestMemory& memory_;
  mutable std::mutex mutex_;
  std::uint32_t version_ = 1;
  std::uint32_t nr_frames_ = 0;
  Frames shared_;
  Frames status_;
  // Indexed by ref, one per v1 entry of the table's frames (so within max_frames, as the frames
  // are). A flat array keeps a segment's map and unmap free of allocation and hashing.
  std::vector<Active> active_;
};

}  // namespace kxen
