// memory_op populate_physmap / decrease_reservation: the balloon driver hands RAM pages back
// and takes them again, only ever inside the guest's own e820 RAM.
#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

#include <xen/errno.h>
#include <xen/memory.h>

#include "kxen/log.hpp"

namespace kxen {

namespace {

// The 32-bit caller's xen_memory_reservation: a 4-byte handle and xen_ulong_t.
struct MemoryReservation32 {
  std::uint32_t extent_start;
  std::uint32_t nr_extents;
  std::uint32_t extent_order;
  std::uint32_t mem_flags;
  domid_t domid;
};
static_assert(sizeof(MemoryReservation32) == 20);
static_assert(sizeof(xen_memory_reservation) == 32);

// Xen's default ceiling for a domU's extents (2 MiB), so one extent is at most 512 pages.
constexpr std::uint32_t kMaxExtentOrder = 9;
// Xen preempts long lists; kxen cannot, so one call may not pin its vCPU thread for long.
// Linux's balloon passes at most a page of gpfns (512) per call.
constexpr std::uint64_t kMaxExtentsPerCall = 4096;
constexpr std::uint32_t kE820Ram = 1;

}  // namespace

std::optional<XenPlatform::Reservation> XenPlatform::read_reservation(std::uint64_t arg, bool long_mode,
                                                                      GuestVirtual& gva) {
  if (long_mode) {
    auto op = gva.read_obj<xen_memory_reservation>(arg);
    if (!op) return std::nullopt;
    return Reservation{reinterpret_cast<std::uint64_t>(op->extent_start.p), op->nr_extents, op->extent_order,
                       op->domid};
  }
  auto op = gva.read_obj<MemoryReservation32>(arg);
  if (!op) return std::nullopt;
  return Reservation{op->extent_start, op->nr_extents, op->extent_order, op->domid};
}

bool XenPlatform::is_guest_ram(std::uint64_t gpfn, std::uint64_t pages) const {
  if (gpfn > (~std::uint64_t{0} >> kPageShift) - pages) return false;
  const Gpa start = gpfn << kPageShift;
  const Gpa end = (gpfn + pages) << kPageShift;
  for (const auto& e : config_.memory_map)
    if (e.type == kE820Ram && start >= e.addr && end <= e.addr + e.size) return memory_.is_ram(start, end - start);
  return false;
}

// Returns how many extents were done, as Xen does; the guest compares it with nr_extents.
std::int64_t XenPlatform::change_reservation(bool populate, std::uint64_t arg, bool long_mode, GuestVirtual& gva) {
  const auto op = read_reservation(arg, long_mode, gva);
  if (!op) return -XEN_EFAULT;
  if (op->domid != DOMID_SELF && op->domid != config_.domid) return -XEN_ESRCH;
  if (op->nr_extents > kMaxExtentsPerCall) return -XEN_EINVAL;
  if (op->extent_order > kMaxExtentOrder) return 0;
  const std::uint64_t pages = 1ull << op->extent_order;
  const std::uint64_t entry_size = long_mode ? sizeof(xen_pfn_t) : sizeof(std::uint32_t);
  std::uint64_t done = 0;
  for (; done < op->nr_extents; ++done) {
    std::uint64_t gpfn = 0;
    if (long_mode) {
      auto v = gva.read_obj<xen_pfn_t>(op->extent_start + done * entry_size);
      if (!v) return done ? static_cast<std::int64_t>(done) : -XEN_EFAULT;
      gpfn = *v;
    } else {
      auto v = gva.read_obj<std::uint32_t>(op->extent_start + done * entry_size);
      if (!v) return done ? static_cast<std::int64_t>(done) : -XEN_EFAULT;
      gpfn = *v;
    }
    if ((gpfn & (pages - 1)) != 0 || !is_guest_ram(gpfn, pages)) {
      KXEN_GUEST_WARN("xen: {} of gpfn {:#x} (order {}): not an aligned extent of the guest's RAM", populate ? "populate" : "decrease",
                      gpfn, op->extent_order);
      break;
    }
    std::lock_guard lock(mutex_);
    if (!populate) {
      // Xen refuses to give back a page that is not there; so do we.
      for (std::uint64_t p = 0; p < pages; ++p)
        if (ballooned_.contains(gpfn + p)) return static_cast<std::int64_t>(done);
    }
    // A populated page is a fresh one on Xen too: both directions leave it zeroed.
    if (!memory_.discard(gpfn << kPageShift, pages << kPageShift)) break;
    for (std::uint64_t p = 0; p < pages; ++p) {
      if (populate)
        ballooned_.erase(gpfn + p);
      else
        ballooned_.insert(gpfn + p);
    }
  }
  return static_cast<std::int64_t>(done);
}

std::uint64_t XenPlatform::current_pages() const {
  std::lock_guard lock(mutex_);
  return config_.ram_pages - std::min<std::uint64_t>(ballooned_.size(), config_.ram_pages);
}

}  // namespace kxen
