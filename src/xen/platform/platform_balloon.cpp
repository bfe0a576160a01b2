// memory_op populate_physmap / decrease_reservation: the balloon driver hands RAM pages back
// and takes them again, only ever inside the guest's own e820 RAM.
#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

#include <xen/errno.h>
#include <xen/memory.h>

#include <algorithm>
#include <limits>
#include <span>

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
// Xen refuses lists whose progress would not fit the cmd's upper bits of a 32-bit register.
constexpr std::uint64_t kMaxEncodableExtents = std::numeric_limits<std::uint32_t>::max() >> kMemopExtentShift;
constexpr std::uint32_t kE820Ram = 1;

// Extents per invocation: a budget of pages, but always at least one extent.
std::uint64_t extent_batch(std::uint32_t order) { return std::max<std::uint64_t>(1, kHypercallWorkBudget >> order); }

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

// Reads extents [first, first + n) of the guest's list; stops at the first unreadable one.
std::vector<std::uint64_t> XenPlatform::read_extents(const Reservation& op, std::uint64_t first, std::uint64_t n,
                                                     bool long_mode, GuestVirtual& gva) {
  const std::uint64_t entry_size = long_mode ? sizeof(xen_pfn_t) : sizeof(std::uint32_t);
  std::vector<std::uint64_t> gpfns;
  gpfns.reserve(n);
  for (std::uint64_t i = first; i < first + n; ++i) {
    const std::uint64_t at = op.extent_start + i * entry_size;
    std::optional<std::uint64_t> gpfn;
    if (long_mode) gpfn = gva.read_obj<xen_pfn_t>(at);
    else if (auto v = gva.read_obj<std::uint32_t>(at)) gpfn = *v;
    if (!gpfn) break;
    gpfns.push_back(*gpfn);
  }
  return gpfns;
}

// Gives back (or takes again) each extent in order until one is refused; returns how many
// were done. The pages are discarded in merged runs: one madvise per run, not per page, since
// each one makes KVM zap its mappings and flush every vCPU's TLB.
std::uint64_t XenPlatform::apply_extents(bool populate, std::span<const std::uint64_t> gpfns, std::uint32_t order) {
  const std::uint64_t pages = 1ull << order;
  std::vector<std::uint64_t> done;
  done.reserve(gpfns.size());
  std::lock_guard lock(balloon_mutex_);
  for (const std::uint64_t gpfn : gpfns) {
    if ((gpfn & (pages - 1)) != 0 || !is_guest_ram(gpfn, pages)) {
      KXEN_GUEST_WARN("xen: {} of gpfn {:#x} (order {}): not an aligned extent of the guest's RAM",
                      populate ? "populate" : "decrease", gpfn, order);
      break;
    }
    // Xen refuses to give back a page that is not there (also one given back earlier in this list).
    bool absent = false;
    for (std::uint64_t p = 0; !populate && p < pages && !absent; ++p) absent = ballooned_.contains(gpfn + p);
    if (absent) break;
    for (std::uint64_t p = 0; p < pages; ++p) {
      if (populate) ballooned_.erase(gpfn + p);
      else ballooned_.insert(gpfn + p);
    }
    done.push_back(gpfn);
  }
  discard_runs(done, pages);
  return done.size();
}

// A populated page is a fresh one on Xen too: both directions leave the pages zeroed. Runs
// grow in list order (up or down), not after a sort: madvise on pages in sorted order measured
// ~40% slower than in the guest's order for a scattered list.
void XenPlatform::discard_runs(std::span<const std::uint64_t> gpfns, std::uint64_t pages) {
  std::uint64_t lo = 0, hi = 0;  // the current run [lo, hi) in gpfns
  std::size_t extents = 0;
  const auto flush = [&] {
    // A run across two RAM regions is not one madvise: then each extent on its own.
    if (hi == lo || memory_.discard(lo << kPageShift, (hi - lo) << kPageShift)) return;
    for (std::uint64_t gpfn = lo; gpfn < hi; gpfn += pages)
      if (!memory_.discard(gpfn << kPageShift, pages << kPageShift))
        KXEN_GUEST_WARN("xen: cannot discard {} pages at gpfn {:#x}", pages, gpfn);
  };
  for (const std::uint64_t gpfn : gpfns) {
    if (extents != 0 && gpfn == hi) hi += pages;
    else if (extents != 0 && gpfn + pages == lo) lo = gpfn;
    else {
      flush();
      lo = gpfn, hi = gpfn + pages;
    }
    ++extents;
  }
  flush();
}

// Returns how many extents were done, as Xen does; the guest compares it with nr_extents.
// Long lists continue as Xen's do: the extents done so far ride in cmd's upper bits.
HypercallOutcome XenPlatform::change_reservation(bool populate, const HypercallRequest& request, GuestVirtual& gva) {
  const std::uint64_t start = request.args[0] >> kMemopExtentShift;
  const auto op = read_reservation(request.args[1], request.long_mode, gva);
  if (!op) return {start ? static_cast<std::int64_t>(start) : -XEN_EFAULT};
  if (op->domid != DOMID_SELF && op->domid != config_.domid) return {-XEN_ESRCH};
  if (op->nr_extents > kMaxEncodableExtents || start >= op->nr_extents || op->extent_order > kMaxExtentOrder)
    return {static_cast<std::int64_t>(start)};
  const std::uint64_t n = std::min(op->nr_extents - start, extent_batch(op->extent_order));
  const auto gpfns = read_extents(*op, start, n, request.long_mode, gva);
  if (gpfns.empty() && start == 0) return {-XEN_EFAULT};
  const std::uint64_t done = start + apply_extents(populate, gpfns, op->extent_order);
  if (done < start + n || done == op->nr_extents) return {static_cast<std::int64_t>(done)};
  auto args = request.args;
  args[0] = (request.args[0] & kMemopCmdMask) | (done << kMemopExtentShift);
  return continue_with(args);
}

std::uint64_t XenPlatform::current_pages() const {
  std::lock_guard lock(balloon_mutex_);
  return config_.ram_pages - std::min<std::uint64_t>(ballooned_.size(), config_.ram_pages);
}

}  // namespace kxen
