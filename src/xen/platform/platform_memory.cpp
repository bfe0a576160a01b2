// memory_op: where the guest places Xen's pages, and what it learns about its own memory.
#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

#include <xen/errno.h>
#include <xen/memory.h>

#include "kxen/log.hpp"
#include "xen/evtchn/two_level.hpp"

namespace kxen {

namespace {

// The 32-bit caller's layout of xen_add_to_physmap (xen_ulong_t and xen_pfn_t are 4 bytes there).
struct AddToPhysmap32 {
  domid_t domid;
  std::uint16_t size;
  std::uint32_t space;
  std::uint32_t idx;
  std::uint32_t gpfn;
};
static_assert(sizeof(AddToPhysmap32) == 16);
static_assert(sizeof(xen_add_to_physmap) == 24);

// XENMEM_memory_map's buffer holds e820 entries: Xen's public headers carry no struct for them.
struct [[gnu::packed]] E820Wire {
  std::uint64_t addr;
  std::uint64_t size;
  std::uint32_t type;
};
static_assert(sizeof(E820Wire) == 20);

// xen_memory_map for either caller: nr_entries then a guest handle of pointer size.
struct MemoryMap64 {
  std::uint32_t nr_entries;
  std::uint32_t pad;
  std::uint64_t buffer;
};
static_assert(sizeof(MemoryMap64) == sizeof(xen_memory_map));
struct MemoryMap32 {
  std::uint32_t nr_entries;
  std::uint32_t buffer;
};
// xen_foreign_memory_map for a 32-bit caller: the map follows domid at 4-byte alignment.
struct ForeignMemoryMap32 {
  domid_t domid;
  std::uint16_t pad;
  MemoryMap32 map;
};
static_assert(sizeof(ForeignMemoryMap32) == 12 && offsetof(xen_foreign_memory_map, map) == 8);
constexpr std::uint32_t kMaxE820Entries = 1024;  // Xen's E820MAX

constexpr std::uint64_t kSharedInfoOverlayKey = 0x5348494e;  // "SHIN"
constexpr std::uint64_t kMaxGpfn = (1ull << 40) - 1;           // 52-bit physical addresses

bool self(domid_t domid, domid_t own) { return domid == DOMID_SELF || domid == own; }

}  // namespace

HypercallOutcome XenPlatform::memory_op(const HypercallRequest& request, GuestVirtual& gva) {
  const std::uint64_t cmd = request.args[0] & kMemopCmdMask;
  const std::uint64_t arg = request.args[1];
  switch (cmd) {
    case XENMEM_add_to_physmap: {
      if (request.long_mode) {
        auto op = gva.read_obj<xen_add_to_physmap>(arg);
        if (!op) return {-XEN_EFAULT};
        if (!self(op->domid, config_.domid)) return {-XEN_ESRCH};
        return {add_to_physmap(op->space, op->idx, op->gpfn, request.long_mode)};
      }
      auto op = gva.read_obj<AddToPhysmap32>(arg);
      if (!op) return {-XEN_EFAULT};
      if (!self(op->domid, config_.domid)) return {-XEN_ESRCH};
      return {add_to_physmap(op->space, op->idx, op->gpfn, request.long_mode)};
    }
    case XENMEM_memory_map: return {memory_map(arg, request.long_mode, gva)};
    case XENMEM_set_memory_map: return {set_memory_map(arg, request.long_mode, gva)};
    case XENMEM_current_reservation:
    case XENMEM_maximum_reservation: {
      auto domid = gva.read_obj<domid_t>(arg);
      if (!domid) return {-XEN_EFAULT};
      if (!self(*domid, config_.domid)) return {-XEN_ESRCH};
      const bool current = cmd == XENMEM_current_reservation;
      return {static_cast<std::int64_t>(current ? current_pages() : config_.ram_pages)};
    }
    case XENMEM_populate_physmap: return change_reservation(true, request, gva);
    case XENMEM_decrease_reservation: return change_reservation(false, request, gva);
    case XENMEM_maximum_gpfn: {
      std::uint64_t top = 0;
      for (const auto& e : config_.memory_map) top = std::max(top, e.addr + e.size);
      return {top == 0 ? 0 : static_cast<std::int64_t>((top >> kPageShift) - 1)};
    }
    default: return {-XEN_ENOSYS};
  }
}

std::int64_t XenPlatform::add_to_physmap(std::uint32_t space, std::uint64_t idx, std::uint64_t gpfn,
                                         bool long_mode) {
  if (gpfn == 0 || gpfn > kMaxGpfn) return -XEN_EINVAL;
  switch (space) {
    case XENMAPSPACE_shared_info: return idx == 0 ? map_shared_info(gpfn, long_mode) : -XEN_EINVAL;
    case XENMAPSPACE_grant_table: {
      const bool status = (idx & XENMAPIDX_grant_table_status) != 0;
      return gnttab_->map_frame(static_cast<std::uint32_t>(idx & ~std::uint64_t{XENMAPIDX_grant_table_status}), status,
                                gpfn);
    }
    default:
      KXEN_GUEST_WARN("xen: add_to_physmap space {} is not supported", space);
      return -XEN_EINVAL;
  }
}

std::int64_t XenPlatform::map_shared_info(std::uint64_t gpfn, bool long_mode) {
  const Gpa gpa = gpfn << kPageShift;
  // Linux picks a RAM page (it becomes shared_info in place, and RAM again once moved away);
  // others pick a hole or a grant frame's page (an overlay, which evicts what was there).
  const bool onto_ram = memory_.is_ram(gpa, kPageSize);
  if (!onto_ram) {
    if (auto err = memory_.map_overlay(kSharedInfoOverlayKey, gpa, kPageSize)) {
      KXEN_GUEST_WARN("xen: shared_info at {:#x}: {}", gpa, *err);
      return -XEN_EINVAL;
    }
  }
  auto page = memory_.span(gpa, kPageSize);
  if (!page) return -XEN_EINVAL;
  std::fill(page->begin(), page->end(), std::byte{0});
  // Every event channel starts masked, as on Xen, in the layout of the caller's mode (Xen latches
  // the 32-bit shared_info for a guest calling from 32-bit mode).
  const auto layout = TwoLevelLayout::for_guest(long_mode);
  std::fill_n(page->begin() + static_cast<std::ptrdiff_t>(layout.mask_off), layout.ports() / 8, std::byte{0xff});
  // Recorded only once KVM agreed, so user space and KVM never disagree about the page.
  // KVM re-initialises its current shared_info when told the mode, and after a move the old page
  // may have left the physmap already: tell it only when the mode is new (then before the page,
  // so KVM writes the wallclock in the layout the guest will read).
  bool mode_known = false;
  {
    std::lock_guard lock(mutex_);
    mode_known = shared_info_gpa_.has_value() && long_mode_ == long_mode;
  }
  if (accel_ && ((!mode_known && !accel_->set_long_mode(long_mode)) || !accel_->set_shared_info(gpa))) return -XEN_EINVAL;
  if (onto_ram) memory_.unmap_overlay(kSharedInfoOverlayKey);  // as Xen: the old place leaves the physmap
  {
    std::lock_guard lock(mutex_);
    shared_info_gpa_ = gpa;
    long_mode_ = long_mode;
  }
  if (accel_) point_kvm_at_legacy_vcpu_info(gpa);
  // Without KVM the clock is kxen's: the wallclock and each legacy slot's pvclock, now.
  publish_wallclock();
  for (std::uint32_t vcpu = 0; vcpu < config_.vcpus; ++vcpu) publish_pvclock(vcpu);
  spdlog::debug("xen: shared_info at {:#x}", gpa);
  return 0;
}

void XenPlatform::point_kvm_at_legacy_vcpu_info(Gpa shared_info_gpa) {
  // KVM keeps pvclock and upcall state only in a vcpu_info it was told about: until a vCPU
  // registers its own, that is its legacy slot inside shared_info.
  const std::uint32_t legacy = std::min<std::uint32_t>(config_.vcpus, XEN_LEGACY_MAX_VCPUS);
  for (std::uint32_t vcpu = 0; vcpu < legacy; ++vcpu) {
    {
      std::lock_guard lock(mutex_);
      if (vcpu_info_gpa_[vcpu]) continue;
    }
    accel_->set_vcpu_info(vcpu, shared_info_gpa + offsetof(shared_info, vcpu_info) + vcpu * sizeof(vcpu_info));
  }
}

std::int64_t XenPlatform::memory_map(std::uint64_t arg, bool long_mode, GuestVirtual& gva) {
  std::uint32_t capacity = 0;
  std::uint64_t buffer = 0;
  if (long_mode) {
    auto m = gva.read_obj<MemoryMap64>(arg);
    if (!m) return -XEN_EFAULT;
    capacity = m->nr_entries, buffer = m->buffer;
  } else {
    auto m = gva.read_obj<MemoryMap32>(arg);
    if (!m) return -XEN_EFAULT;
    capacity = m->nr_entries, buffer = m->buffer;
  }
  std::vector<MemoryMapEntry> map;
  {
    std::lock_guard lock(mutex_);
    map = reported_map_ ? *reported_map_ : config_.memory_map;
  }
  if (map.empty()) return -XEN_ENOSYS;  // as Xen after an empty XENMEM_set_memory_map
  // As Xen: copy what fits and report how many were copied.
  const std::size_t count = std::min<std::size_t>(capacity, map.size());
  for (std::size_t i = 0; i < count; ++i) {
    const E820Wire entry{map[i].addr, map[i].size, map[i].type};
    if (!gva.write_obj(buffer + i * sizeof(E820Wire), entry)) return -XEN_EFAULT;
  }
  return gva.write_obj(arg, static_cast<std::uint32_t>(count)) ? 0 : -XEN_EFAULT;  // nr_entries is the struct's first field
}

// The guest may replace the map XENMEM_memory_map reports (GRUB does, for the kernel it loads);
// what is RAM for kxen (balloon checks, memslots) stays the map it booted with.
std::int64_t XenPlatform::set_memory_map(std::uint64_t arg, bool long_mode, GuestVirtual& gva) {
  domid_t domid = 0;
  std::uint32_t count = 0;
  std::uint64_t buffer = 0;
  if (long_mode) {
    auto m = gva.read_obj<xen_foreign_memory_map>(arg);
    if (!m) return -XEN_EFAULT;
    domid = m->domid, count = m->map.nr_entries, buffer = reinterpret_cast<std::uint64_t>(m->map.buffer.p);
  } else {
    auto m = gva.read_obj<ForeignMemoryMap32>(arg);
    if (!m) return -XEN_EFAULT;
    domid = m->domid, count = m->map.nr_entries, buffer = m->map.buffer;
  }
  if (count > kMaxE820Entries) return -XEN_EINVAL;
  if (!self(domid, config_.domid)) return -XEN_ESRCH;
  std::vector<MemoryMapEntry> map;
  map.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto e = gva.read_obj<E820Wire>(buffer + std::uint64_t{i} * sizeof(E820Wire));
    if (!e) return -XEN_EFAULT;
    map.push_back(MemoryMapEntry{e->addr, e->size, e->type});
  }
  std::lock_guard lock(mutex_);
  reported_map_ = std::move(map);
  return 0;
}

}  // namespace kxen
