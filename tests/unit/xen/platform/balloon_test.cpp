// memory_op populate_physmap / decrease_reservation: the balloon driver's two calls.
#include "platform_fakes.hpp"

#include <array>

namespace kxen::test {
namespace {

constexpr std::uint64_t kPfn = 0x40;  // e820 RAM and backed in PlatformWorld

std::int64_t reservation_op(PlatformWorld& w, std::uint64_t cmd, const std::vector<xen_pfn_t>& gpfns, std::uint32_t order = 0,
                            domid_t domid = DOMID_SELF) {
  for (std::size_t i = 0; i < gpfns.size(); ++i) REQUIRE(w.memory.write_obj(kBuf + i * sizeof(xen_pfn_t), gpfns[i]));
  xen_memory_reservation r{};
  set_xen_guest_handle(r.extent_start, reinterpret_cast<xen_pfn_t*>(kBuf));
  r.nr_extents = gpfns.size();
  r.extent_order = order;
  r.domid = domid;
  REQUIRE(w.memory.write_obj(kArg, r));
  return w.memory_op(cmd, kArg);
}

std::int64_t current(PlatformWorld& w) {
  REQUIRE(w.memory.write_obj(kArg, domid_t{DOMID_SELF}));
  return w.memory_op(XENMEM_current_reservation, kArg);
}

}  // namespace

TEST_CASE("decrease_reservation frees RAM pages and populate_physmap gives them back zeroed", "[platform]") {
  PlatformWorld w;
  const std::int64_t full = current(w);
  REQUIRE(w.memory.write_obj(kPfn << kPageShift, std::uint64_t{0x1122334455667788}));

  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn, kPfn + 1}) == 2);
  CHECK(current(w) == full - 2);
  CHECK(w.memory.read_obj<std::uint64_t>(kPfn << kPageShift) == 0u);
  // A page already given back cannot be given back twice.
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn + 1}) == 0);
  CHECK(current(w) == full - 2);

  CHECK(reservation_op(w, XENMEM_populate_physmap, {kPfn, kPfn + 1}) == 2);
  CHECK(current(w) == full);
  CHECK(w.memory_op(XENMEM_maximum_reservation, kArg) == full);
}

TEST_CASE("balloon extents honour their order and alignment", "[platform]") {
  PlatformWorld w;
  const std::int64_t full = current(w);
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn}, 2) == 1);
  CHECK(current(w) == full - 4);
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn + 5}, 1) == 0);  // not 2-page aligned
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {0}, 10) == 0);         // beyond Xen's domU order
  CHECK(current(w) == full - 4);
}

TEST_CASE("balloon calls stay inside the guest's e820 RAM", "[platform]") {
  PlatformWorld w;
  const std::int64_t full = current(w);
  // A backed page the e820 map hides (the legacy hole), RAM the map lists but nothing backs,
  // and an address that overflows when shifted: all stop the list where they appear.
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn, 0xa0, kPfn + 1}) == 1);
  CHECK(reservation_op(w, XENMEM_populate_physmap, {0x100}) == 0);
  CHECK(reservation_op(w, XENMEM_populate_physmap, {~xen_pfn_t{0}}) == 0);
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {0x9f}, 0) == 0);
  CHECK(current(w) == full - 1);
}

TEST_CASE("balloon calls check the domain and the guest's pointers", "[platform]") {
  PlatformWorld w;
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn}, 0, 3) == -XEN_ESRCH);
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn}, 0, kDomid) == 1);
  CHECK(w.memory_op(XENMEM_populate_physmap, kBadPointer) == -XEN_EFAULT);
  xen_memory_reservation r{};
  set_xen_guest_handle(r.extent_start, reinterpret_cast<xen_pfn_t*>(kBadPointer));
  r.nr_extents = 1;
  r.domid = DOMID_SELF;
  REQUIRE(w.memory.write_obj(kArg, r));
  CHECK(w.memory_op(XENMEM_populate_physmap, kArg) == -XEN_EFAULT);
  r.nr_extents = (0xffffffffu >> 6) + 1;  // progress would not fit cmd's upper bits: nothing done (Xen)
  REQUIRE(w.memory.write_obj(kArg, r));
  CHECK(w.memory_op(XENMEM_decrease_reservation, kArg) == 0);
}

TEST_CASE("decrease_reservation discards exactly the listed pages, in merged runs", "[platform][budget]") {
  PlatformWorld w;
  for (std::uint64_t p = kPfn; p < kPfn + 10; ++p) REQUIRE(w.memory.write_obj(p << kPageShift, p));
  // Out of order, with a gap at kPfn + 2 and a page listed twice (refused the second time).
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn + 3, kPfn, kPfn + 1, kPfn + 4, kPfn}) == 4);
  for (std::uint64_t p : {kPfn, kPfn + 1, kPfn + 3, kPfn + 4})
    CHECK(w.memory.read_obj<std::uint64_t>(p << kPageShift) == 0u);
  CHECK(w.memory.read_obj<std::uint64_t>((kPfn + 2) << kPageShift) == kPfn + 2);
  // A run that grows downwards.
  CHECK(reservation_op(w, XENMEM_decrease_reservation, {kPfn + 8, kPfn + 7, kPfn + 6}) == 3);
  for (std::uint64_t p : {kPfn + 6, kPfn + 7, kPfn + 8}) CHECK(w.memory.read_obj<std::uint64_t>(p << kPageShift) == 0u);
  CHECK(w.memory.read_obj<std::uint64_t>((kPfn + 5) << kPageShift) == kPfn + 5);
  CHECK(w.memory.read_obj<std::uint64_t>((kPfn + 9) << kPageShift) == kPfn + 9);
}

TEST_CASE("long reservation lists continue with their progress in cmd's upper bits", "[platform][budget]") {
  PlatformWorld w;
  const std::int64_t full = current(w);
  // 600 times the same page: populate may repeat a page, and each one is work.
  std::vector<xen_pfn_t> list(600, kPfn);
  REQUIRE(w.memory.write(kBuf, std::as_bytes(std::span(list))));
  xen_memory_reservation r{};
  set_xen_guest_handle(r.extent_start, reinterpret_cast<xen_pfn_t*>(kBuf));
  r.nr_extents = list.size();
  r.domid = DOMID_SELF;
  REQUIRE(w.memory.write_obj(kArg, r));
  std::uint64_t cmd = XENMEM_populate_physmap;
  std::vector<std::uint64_t> progress;
  HypercallOutcome out;
  for (int guard = 0; guard < 10; ++guard) {
    out = w.call(&XenPlatform::memory_op, cmd, kArg);
    if (out.action != VcpuAction::restart) break;
    CHECK(out.restart_args[1] == kArg);
    CHECK((out.restart_args[0] & 63) == XENMEM_populate_physmap);
    progress.push_back(out.restart_args[0] >> 6);
    cmd = out.restart_args[0];
  }
  CHECK(out.result == 600);
  CHECK(progress == std::vector<std::uint64_t>{kHypercallWorkBudget, 2 * kHypercallWorkBudget});
  CHECK(current(w) == full);

  // Order-2 extents are four pages of work each: a quarter of the budget's extents per call.
  set_xen_guest_handle(r.extent_start, reinterpret_cast<xen_pfn_t*>(kBuf));
  r.extent_order = 2;
  REQUIRE(w.memory.write_obj(kArg, r));
  out = w.call(&XenPlatform::memory_op, XENMEM_populate_physmap, kArg);
  REQUIRE(out.action == VcpuAction::restart);
  CHECK(out.restart_args[0] >> 6 == kHypercallWorkBudget / 4);
  // A continuation at or past the end does nothing more and reports where it stood.
  CHECK(w.memory_op(XENMEM_populate_physmap | (700u << 6), kArg) == 700);
}

TEST_CASE("32-bit callers use the compat reservation layout", "[platform]") {
  PlatformWorld w;
  const std::int64_t full = current(w);
  REQUIRE(w.memory.write_obj(kBuf, std::array<std::uint32_t, 2>{kPfn, kPfn + 1}));
  // extent_start, nr_extents, extent_order, mem_flags as 32-bit words, then domid.
  REQUIRE(w.memory.write_obj(kArg, std::array<std::uint32_t, 5>{static_cast<std::uint32_t>(kBuf), 2, 0, 0, DOMID_SELF}));
  CHECK(w.memory_op(XENMEM_decrease_reservation, kArg, false) == 2);
  CHECK(current(w) == full - 2);
}

}  // namespace kxen::test
