// add_to_physmap over RAM and back, as Xen's xenmem_add_to_physmap_one: the frame replaces the
// RAM page, a frame at the target GFN is evicted, and the old place leaves the physmap.
#include "platform_fakes.hpp"

#include <algorithm>

namespace kxen::test {

TEST_CASE("shared_info moved from a hole onto RAM: KVM learns the page each time and the mode once", "[platform]") {
  PlatformWorld w;
  const Gpa hole = kHolePfn << kPageShift, ram = kShinfoPfn << kPageShift;
  REQUIRE(w.map_shared_info(kHolePfn) == 0);
  REQUIRE(w.memory.span(hole, kPageSize));
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  CHECK(w.platform->shared_info_gpa() == ram);
  CHECK(w.accel.shared_info == std::vector<Gpa>{hole, ram});
  // KVM re-initialises its current page on every mode write: the hole page is gone by now.
  CHECK(w.accel.long_mode == std::vector<bool>{true});
  CHECK_FALSE(w.memory.span(hole, kPageSize));  // the old place left the physmap
  CHECK(w.memory.is_ram(ram, kPageSize));
}

TEST_CASE("a grant frame mapped onto RAM replaces the page; shared_info onto it evicts the frame", "[platform]") {
  PlatformWorld w;
  const Gpa ram = kShinfoPfn << kPageShift;
  std::vector<std::byte> junk(kPageSize, std::byte{0xaa});
  REQUIRE(w.memory.write(ram, junk));
  xen_add_to_physmap op{};
  op.domid = DOMID_SELF;
  op.space = XENMAPSPACE_grant_table;
  op.idx = 0;
  op.gpfn = kShinfoPfn;
  REQUIRE(w.memory.write_obj(kArg, op));
  REQUIRE(w.memory_op(XENMEM_add_to_physmap, kArg) == 0);
  CHECK_FALSE(w.memory.is_ram(ram, kPageSize));
  CHECK(w.memory.read_obj<std::uint64_t>(ram) == 0u);  // the frame, not the old RAM

  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);  // onto the frame's GFN
  CHECK(w.platform->shared_info_gpa() == ram);
  const auto* info = reinterpret_cast<const shared_info*>(w.memory.span(ram, kPageSize)->data());
  CHECK(info->evtchn_mask[0] == ~xen_ulong_t{0});

  op.gpfn = kHolePfn;  // the frame maps again elsewhere; shared_info stays
  REQUIRE(w.memory.write_obj(kArg, op));
  REQUIRE(w.memory_op(XENMEM_add_to_physmap, kArg) == 0);
  CHECK(w.memory.read_obj<xen_ulong_t>(ram + offsetof(shared_info, evtchn_mask)) == ~xen_ulong_t{0});
}

TEST_CASE("shared_info from a 32-bit caller is masked in the 32-bit layout", "[platform]") {
  PlatformWorld w;
  const Gpa ram = kShinfoPfn << kPageShift;
  const Gpa pending = ram + offsetof(shared_info, evtchn_pending);
  // 32 words of 32 bits each: pending 2048..2175, mask 2176..2303, then wc_version.
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);  // 64-bit first, then the 32-bit caller moves it
  std::vector<std::byte> page(kPageSize);
  REQUIRE(w.memory.write(ram, page));
  REQUIRE(w.memory.write_obj(kArg, std::uint16_t{DOMID_SELF}));
  REQUIRE(w.memory.write_obj(kArg + 2, std::uint16_t{0}));
  REQUIRE(w.memory.write_obj(kArg + 4, std::uint32_t{XENMAPSPACE_shared_info}));
  REQUIRE(w.memory.write_obj(kArg + 8, std::uint32_t{0}));
  REQUIRE(w.memory.write_obj(kArg + 12, static_cast<std::uint32_t>(kShinfoPfn)));
  REQUIRE(w.memory_op(XENMEM_add_to_physmap, kArg, false) == 0);
  CHECK(w.memory.read_obj<std::uint32_t>(pending) == 0u);
  CHECK(w.memory.read_obj<std::uint32_t>(pending + 128) == 0xffffffffu);
  CHECK(w.memory.read_obj<std::uint32_t>(pending + 252) == 0xffffffffu);
  CHECK(w.memory.read_obj<std::uint32_t>(pending + 256) == 0u);  // wc_version, not a mask word
  CHECK(w.accel.long_mode == std::vector<bool>{true, false});
}

}  // namespace kxen::test
