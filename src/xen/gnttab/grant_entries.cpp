// Grant entries in guest-shared frames: locating v1/v2 entries and status words, and the
// bounded atomic updates of GTF_reading/GTF_writing (Xen's _set_status_v1/_v2).
#include <atomic>
#include <cstring>

#include "kxen/log.hpp"
#include "xen/gnttab/grant_table.hpp"

namespace kxen {

namespace {
// A guest may legitimately race us (e.g. flipping GTF_readonly); more changes than this mean
// it is trying to livelock the backend, so the map fails instead.
constexpr int kCmpxchgRetries = 4;
constexpr std::uint32_t kFlagsMask = 0xffff;  // flags are the low half of the 32-bit header

std::atomic_ref<std::uint32_t> header_word(std::byte* entry) {
  return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(entry));
}
std::uint16_t flags_of(std::uint32_t header) { return static_cast<std::uint16_t>(header & kFlagsMask); }
domid_t domid_of(std::uint32_t header) { return static_cast<domid_t>(header >> 16); }

// Type check shared by both versions: only full-page (for maps) permit_access grants to `grantee`.
std::int16_t check_entry(std::uint32_t header, bool for_map, domid_t grantee) {
  const std::uint16_t mask = GTF_type_mask | (for_map ? GTF_sub_page : 0);
  if ((flags_of(header) & mask) != GTF_permit_access || domid_of(header) != grantee) return GNTST_general_error;
  return GNTST_okay;
}
}  // namespace

std::byte* GrantTable::entry_locked(grant_ref_t ref) const {
  const std::uint32_t per_frame = entries_per_frame();
  const std::uint32_t frame = ref / per_frame;
  if (frame >= nr_frames_) return nullptr;
  std::byte* base = shared_frame(frame);
  if (!base) return nullptr;
  return base + (ref % per_frame) * (kPageSize / per_frame);
}

std::vector<GrantInfo> GrantTable::entries_in_use(std::size_t limit) const {
  std::lock_guard lock(mutex_);
  std::vector<GrantInfo> out;
  const std::uint32_t total = nr_frames_ * entries_per_frame();
  for (grant_ref_t ref = 0; ref < total && out.size() < limit; ++ref) {
    const std::byte* entry = entry_locked(ref);
    if (!entry) continue;
    // One plain copy: the guest may change it meanwhile, and a snapshot is all a debugger needs.
    std::uint32_t header = 0;
    std::memcpy(&header, entry, sizeof(header));
    if ((flags_of(header) & GTF_type_mask) == GTF_invalid) continue;
    GrantInfo info{ref, flags_of(header), domid_of(header), 0, 0};
    if (version_ == 1) {
      std::uint32_t frame = 0;
      std::memcpy(&frame, entry + 4, sizeof(frame));
      info.frame = frame;
    } else {
      std::memcpy(&info.frame, entry + 8, sizeof(info.frame));
    }
    if (ref < active_.size()) info.pins = active_[ref].pins;
    out.push_back(info);
  }
  return out;
}

std::uint16_t* GrantTable::status_locked(grant_ref_t ref) const {
  const std::uint32_t per_frame = kPageSize / sizeof(grant_status_t);
  if (ref / per_frame >= status_.gfn.size()) return nullptr;
  std::byte* base = status_frame(ref / per_frame);
  if (!base) return nullptr;
  return reinterpret_cast<std::uint16_t*>(base) + ref % per_frame;
}

std::int16_t GrantTable::set_status_locked(grant_ref_t ref, bool writable, bool for_map, domid_t grantee,
                                           const Active& act, Active& fresh) {
  std::byte* entry = entry_locked(ref);
  if (!entry) return GNTST_bad_gntref;
  auto hdr = header_word(entry);
  std::uint32_t seen = hdr.load();
  const std::uint16_t bits = GTF_reading | (writable ? GTF_writing : 0);
  if (version_ == 1) {
    for (int attempt = 0;; ++attempt) {
      if (act.pins == 0 && check_entry(seen, for_map, grantee) != GNTST_okay) return GNTST_general_error;
      if (writable && (flags_of(seen) & GTF_readonly)) return GNTST_general_error;
      if (hdr.compare_exchange_strong(seen, seen | bits)) break;
      if (attempt == kCmpxchgRetries) {
        KXEN_GUEST_WARN("gnttab: grant {} keeps changing under us; map refused", ref);
        return GNTST_general_error;
      }
    }
    fresh.gfn = reinterpret_cast<const grant_entry_v1_t*>(entry)->frame;
    return GNTST_okay;
  }
  // v2: flags live in a separate status word, so set them, then re-check the header.
  if (act.pins == 0 && check_entry(seen, for_map, grantee) != GNTST_okay) return GNTST_general_error;
  if (writable && (flags_of(seen) & GTF_readonly)) return GNTST_general_error;
  std::uint16_t* status = status_locked(ref);
  if (!status) {
    KXEN_GUEST_WARN("gnttab: status frame for grant {} is not mapped; map refused", ref);
    return GNTST_general_error;
  }
  std::atomic_ref<std::uint16_t>(*status).fetch_or(bits);
  const std::uint32_t again = hdr.load();
  if ((act.pins == 0 && again != seen) || (writable && (flags_of(again) & GTF_readonly))) {
    clear_status_locked(ref, act.pins == 0, act.write_pins == 0 && writable);
    return GNTST_general_error;
  }
  std::memcpy(&fresh.gfn, entry + offsetof(grant_entry_v2_t, full_page.frame), sizeof fresh.gfn);
  if (flags_of(seen) & GTF_sub_page) {
    std::memcpy(&fresh.window_off, entry + offsetof(grant_entry_v2_t, sub_page.page_off), 2);
    std::memcpy(&fresh.window_len, entry + offsetof(grant_entry_v2_t, sub_page.length), 2);
  }
  return GNTST_okay;
}

void GrantTable::clear_status_locked(grant_ref_t ref, bool clear_reading, bool clear_writing) {
  const std::uint16_t bits = (clear_reading ? GTF_reading : 0) | (clear_writing ? GTF_writing : 0);
  if (bits == 0) return;
  if (version_ == 1) {
    if (std::byte* entry = entry_locked(ref)) header_word(entry).fetch_and(~std::uint32_t{bits});
  } else if (std::uint16_t* status = status_locked(ref)) {
    std::atomic_ref<std::uint16_t>(*status).fetch_and(static_cast<std::uint16_t>(~bits));
  }
}

std::expected<GrantTable::Active*, std::int16_t> GrantTable::acquire_locked(grant_ref_t ref, bool writable,
                                                                           bool for_map, domid_t grantee) {
  if (ref >= nr_frames_ * entries_per_frame()) return std::unexpected(GNTST_bad_gntref);
  Active& act = active_[ref];  // grow_locked sized it for every entry of the table
  // A pinned entry serves only the domain that pinned it first (as Xen's act->domid).
  if (act.pins != 0 && act.grantee != grantee) return std::unexpected(GNTST_general_error);
  // Touch the shared entry only on the first pin, or the first writable one.
  if (act.pins == 0 || (writable && act.write_pins == 0)) {
    Active fresh;
    if (const auto st = set_status_locked(ref, writable, for_map, grantee, act, fresh); st != GNTST_okay)
      return std::unexpected(st);
    if (act.pins == 0) {
      if (!page_of(fresh.gfn) || std::uint32_t{fresh.window_off} + fresh.window_len > kPageSize) {
        clear_status_locked(ref, true, writable);
        return std::unexpected(GNTST_bad_page);
      }
      fresh.grantee = grantee;
      act = fresh;
    }
  }
  ++act.pins;
  if (writable) ++act.write_pins;
  return &act;
}

void GrantTable::release_locked(grant_ref_t ref, bool writable) {
  if (ref >= active_.size() || active_[ref].pins == 0) return;
  Active& act = active_[ref];
  --act.pins;
  if (writable) --act.write_pins;
  clear_status_locked(ref, act.pins == 0, writable && act.write_pins == 0);
  if (act.pins == 0) act = Active{};
}

std::optional<std::span<std::byte>> GrantTable::page_of(std::uint64_t gfn) const {
  if (gfn > (~std::uint64_t{0} >> kPageShift)) return std::nullopt;
  const Gpa gpa = gfn << kPageShift;
  // Only guest RAM can be granted: not grant frames, shared_info or other overlays.
  return memory_.ram_span(gpa, kPageSize);
}

}  // namespace kxen
