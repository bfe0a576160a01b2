// The dom0 side of grants: kxen's backends map and copy pages the guest granted to domain 0.
#include <cstring>

#include "kxen/log.hpp"
#include "xen/gnttab/grant_table.hpp"

namespace kxen {

std::expected<GrantMapping, std::int16_t> GrantTable::map(grant_ref_t ref, bool writable) {
  std::lock_guard lock(mutex_);
  return map_locked(ref, writable);
}

std::int16_t GrantTable::unmap(const GrantMapping& mapping) {
  std::lock_guard lock(mutex_);
  return unmap_locked(mapping);
}

void GrantTable::map_batch(std::span<const grant_ref_t> refs, bool writable,
                           std::vector<std::expected<GrantMapping, std::int16_t>>& out) {
  out.clear();
  out.reserve(refs.size());
  std::lock_guard lock(mutex_);
  for (const grant_ref_t ref : refs) out.push_back(map_locked(ref, writable));
}

void GrantTable::unmap_batch(std::span<const GrantMapping> mappings) {
  std::lock_guard lock(mutex_);
  for (const GrantMapping& m : mappings) {
    if (const std::int16_t rc = unmap_locked(m); rc != GNTST_okay)
      KXEN_GUEST_WARN("gnttab: backend unmap of ref {} failed ({})", m.ref(), rc);
  }
}

std::expected<GrantMapping, std::int16_t> GrantTable::map_locked(grant_ref_t ref, bool writable) {
  const auto act = acquire_locked(ref, writable, true, kBackendDomid);
  if (!act) return std::unexpected(act.error());
  const auto page = page_of((*act)->gfn);
  if (!page) {
    release_locked(ref, writable);
    return std::unexpected(GNTST_bad_page);
  }
  return GrantMapping(ref, writable, *page);
}

std::int16_t GrantTable::unmap_locked(const GrantMapping& mapping) {
  if (mapping.ref() >= active_.size() || active_[mapping.ref()].pins == 0) return GNTST_bad_handle;
  const Active& act = active_[mapping.ref()];
  // The mapping's kind must still have a pin of that kind (catches double unmaps).
  if (mapping.writable() ? act.write_pins == 0 : act.pins == act.write_pins) return GNTST_bad_handle;
  release_locked(mapping.ref(), mapping.writable());
  return GNTST_okay;
}

std::int16_t GrantTable::copy(grant_ref_t ref, std::uint32_t offset, std::size_t len, bool to_grant,
                              const std::byte* src, std::byte* dst) {
  if (offset > kPageSize || len > kPageSize - offset) return GNTST_bad_copy_arg;
  std::lock_guard lock(mutex_);
  const auto act = acquire_locked(ref, to_grant, false, kBackendDomid);
  if (!act) return act.error();
  const Active& a = **act;
  std::int16_t status = GNTST_okay;
  const auto page = page_of(a.gfn);
  if (offset < a.window_off || offset + len > std::size_t{a.window_off} + a.window_len) {
    status = GNTST_general_error;  // outside the v2 sub-page window
  } else if (!page) {
    status = GNTST_bad_page;
  } else if (len == 0) {
    // nothing to move; the grant was still validated
  } else if (to_grant) {
    std::memcpy(page->data() + offset, src, len);
  } else {
    std::memcpy(dst, page->data() + offset, len);
  }
  release_locked(ref, to_grant);
  return status;
}

std::int16_t GrantTable::copy_from_grant(grant_ref_t ref, std::uint32_t offset, std::span<std::byte> out) {
  return copy(ref, offset, out.size(), false, nullptr, out.data());
}

std::int16_t GrantTable::copy_to_grant(grant_ref_t ref, std::uint32_t offset, std::span<const std::byte> in) {
  return copy(ref, offset, in.size(), true, in.data(), nullptr);
}

}  // namespace kxen
