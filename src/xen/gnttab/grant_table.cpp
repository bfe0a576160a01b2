// Grant-table frames, versions and the table-management operations.
#include "xen/gnttab/grant_table.hpp"

#include <xen/errno.h>

#include <algorithm>
#include <cstring>

#include "kxen/log.hpp"

namespace kxen {

namespace {
constexpr std::uint64_t kInvalidGfn = ~std::uint64_t{0};
constexpr std::uint32_t kStatusPerFrame = kPageSize / sizeof(grant_status_t);
}  // namespace

GrantTable::GrantTable(const GrantTableConfig& config, GuestMemory& memory) : config_(config), memory_(memory) {
  grow_locked(std::min(config_.initial_frames, config_.max_frames));
}

std::uint32_t GrantTable::status_frames_for(std::uint32_t frames) const {
  const std::uint32_t entries = frames * (kPageSize / sizeof(grant_entry_v2_t));
  return (entries + kStatusPerFrame - 1) / kStatusPerFrame;
}

bool GrantTable::grow_locked(std::uint32_t frames) {
  if (frames > config_.max_frames) return false;
  nr_frames_ = std::max(nr_frames_, frames);
  active_.resize(std::size_t{nr_frames_} * (kPageSize / sizeof(grant_entry_v1_t)));  // v1 has the most entries
  shared_.gfn.resize(nr_frames_);
  status_.gfn.resize(status_frames_for(nr_frames_));
  return true;
}

std::uint32_t GrantTable::frame_count() const {
  std::lock_guard lock(mutex_);
  return nr_frames_;
}

std::uint32_t GrantTable::status_frame_count() const {
  std::lock_guard lock(mutex_);
  return version_ == 2 ? status_frames_for(nr_frames_) : 0;
}

std::uint32_t GrantTable::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

std::byte* GrantTable::shared_frame(std::uint32_t index) const { return memory_.overlay_host(grant_overlay_key(index, false)); }
std::byte* GrantTable::status_frame(std::uint32_t index) const { return memory_.overlay_host(grant_overlay_key(index, true)); }

int GrantTable::map_frame(std::uint32_t index, bool is_status, std::uint64_t gpfn) {
  std::lock_guard lock(mutex_);
  if (is_status) {
    if (version_ != 2 || index >= status_frames_for(nr_frames_)) return -XEN_EINVAL;
  } else if (index >= config_.max_frames) {
    return -XEN_EINVAL;
  }
  if (gpfn > (~std::uint64_t{0} >> kPageShift)) return -XEN_EINVAL;
  if (auto err = memory_.map_overlay(grant_overlay_key(index, is_status), gpfn << kPageShift, kPageSize)) {
    KXEN_GUEST_WARN("gnttab: cannot map {} frame {} at gfn {:#x}: {}", is_status ? "status" : "shared", index, gpfn, *err);
    return -XEN_EINVAL;
  }
  // Mapping shared frame `index` grows the table to cover it (as Xen's gnttab_grow_table).
  if (!is_status) grow_locked(index + 1);
  (is_status ? status_ : shared_).gfn[index] = gpfn;
  return 0;
}

std::int16_t GrantTable::check_dom(domid_t dom) const {
  if (dom == DOMID_SELF || dom == config_.domid) return GNTST_okay;
  // dom0 exists but a guest may not inspect it; any other domain is unknown here.
  return dom == 0 ? GNTST_permission_denied : GNTST_bad_domain;
}

int GrantTable::query_size(gnttab_query_size& op) const {
  op.status = check_dom(op.dom);
  if (op.status != GNTST_okay) return 0;
  std::lock_guard lock(mutex_);
  op.nr_frames = nr_frames_;
  op.max_nr_frames = config_.max_frames;
  return 0;
}

int GrantTable::get_version(gnttab_get_version& op) const {
  if (const auto st = check_dom(op.dom); st != GNTST_okay) return st == GNTST_bad_domain ? -XEN_ESRCH : -XEN_EPERM;
  std::lock_guard lock(mutex_);
  op.version = version_;
  return 0;
}

std::int16_t GrantTable::setup_table(domid_t dom, std::uint32_t nr_frames, std::vector<std::uint64_t>& gfns) {
  if (const auto st = check_dom(dom); st != GNTST_okay) return st;
  std::lock_guard lock(mutex_);
  if (nr_frames > config_.max_frames || !grow_locked(nr_frames)) return GNTST_general_error;
  gfns.clear();
  for (std::uint32_t i = 0; i < nr_frames; ++i) gfns.push_back(shared_.gfn[i].value_or(kInvalidGfn));
  return GNTST_okay;
}

std::int16_t GrantTable::get_status_frames(domid_t dom, std::uint32_t nr_frames, std::vector<std::uint64_t>& gfns) const {
  if (const auto st = check_dom(dom); st != GNTST_okay) return st;
  std::lock_guard lock(mutex_);
  if (version_ != 2 || nr_frames > status_frames_for(nr_frames_)) return GNTST_general_error;
  gfns.clear();
  for (std::uint32_t i = 0; i < nr_frames; ++i) gfns.push_back(status_.gfn[i].value_or(kInvalidGfn));
  return GNTST_okay;
}

int GrantTable::set_version(gnttab_set_version& op) {
  std::lock_guard lock(mutex_);
  const std::uint32_t wanted = op.version;
  op.version = version_;
  if (wanted != 1 && wanted != 2) return -XEN_EINVAL;
  if (wanted == version_) return 0;
  // Only the toolstack-reserved entries may stay in use across a switch (as Xen).
  for (grant_ref_t ref = GNTTAB_NR_RESERVED_ENTRIES; ref < active_.size(); ++ref)
    if (active_[ref].pins != 0) return -XEN_EBUSY;
  convert_reserved_locked(wanted);
  version_ = wanted;
  op.version = version_;
  spdlog::debug("gnttab: switched to grant table v{}", version_);
  return 0;
}

// Clears every mapped frame of the old format and rewrites the reserved entries in the new one.
void GrantTable::convert_reserved_locked(std::uint32_t to_version) {
  struct Reserved { std::uint16_t flags; domid_t domid; std::uint64_t frame; };
  Reserved saved[GNTTAB_NR_RESERVED_ENTRIES] = {};
  for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ++ref) {
    const std::byte* e = entry_locked(ref);
    if (!e) continue;
    grant_entry_header_t hdr;
    std::memcpy(&hdr, e, sizeof hdr);
    saved[ref] = {hdr.flags, hdr.domid, 0};
    if (version_ == 1) {
      saved[ref].frame = reinterpret_cast<const grant_entry_v1_t*>(e)->frame;
    } else {
      std::memcpy(&saved[ref].frame, e + offsetof(grant_entry_v2_t, full_page.frame), sizeof(std::uint64_t));
      if (const std::uint16_t* st = status_locked(ref)) saved[ref].flags |= *st;
    }
  }
  for (std::uint32_t i = 0; i < nr_frames_; ++i)
    if (std::byte* frame = shared_frame(i)) std::memset(frame, 0, kPageSize);
  for (std::uint32_t i = 0; i < status_.gfn.size(); ++i)
    if (std::byte* frame = status_frame(i)) std::memset(frame, 0, kPageSize);
  version_ = to_version;
  for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ++ref) {
    std::byte* e = entry_locked(ref);
    if (!e) continue;
    const std::uint16_t busy = GTF_reading | GTF_writing;
    const grant_entry_header_t hdr{static_cast<std::uint16_t>(to_version == 2 ? saved[ref].flags & ~busy : saved[ref].flags),
                                   saved[ref].domid};
    std::memcpy(e, &hdr, sizeof hdr);
    if (to_version == 1) {
      const std::uint32_t frame = static_cast<std::uint32_t>(saved[ref].frame);
      std::memcpy(e + offsetof(grant_entry_v1_t, frame), &frame, sizeof frame);
    } else {
      std::memcpy(e + offsetof(grant_entry_v2_t, full_page.frame), &saved[ref].frame, sizeof(std::uint64_t));
      if (std::uint16_t* st = status_locked(ref)) *st = saved[ref].flags & busy;
    }
  }
}

}  // namespace kxen
