#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <vector>

#include "kxen/guest_memory.hpp"

using namespace kxen;

TEST_CASE("GuestMemory checks every access against its regions", "[kvm][memory]") {
  GuestMemory mem;
  REQUIRE_FALSE(mem.add_ram(0, 0x10000));
  REQUIRE_FALSE(mem.add_ram(0x10000, 0x10000));  // adjacent: a buffer may span both

  SECTION("reads and writes inside RAM round-trip, also across adjacent regions") {
    const std::array<std::byte, 8> data{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                                        std::byte{5}, std::byte{6}, std::byte{7}, std::byte{8}};
    REQUIRE(mem.write(0xfffc, data));
    std::array<std::byte, 8> back{};
    REQUIRE(mem.read(0xfffc, back));
    CHECK(back == data);
    CHECK(mem.read_obj<std::uint32_t>(0x10000) == 0x08070605u);
  }
  SECTION("an access that leaves RAM fails whole and writes nothing") {
    const std::vector<std::byte> data(16, std::byte{0xaa});
    CHECK_FALSE(mem.write(0x1fff8, data));
    CHECK(mem.read_obj<std::uint64_t>(0x1fff8) == 0u);
    std::array<std::byte, 4> out{};
    CHECK_FALSE(mem.read(0x20000, out));
    CHECK_FALSE(mem.read(~0ull - 1, out));  // wraps the address space
  }
  SECTION("span refuses ranges that cross a region boundary") {
    CHECK(mem.span(0x100, 0x100).has_value());
    CHECK_FALSE(mem.span(0xff00, 0x200).has_value());
    CHECK_FALSE(mem.span(0x30000, 1).has_value());
  }
  SECTION("overlapping or unaligned RAM is refused") {
    CHECK(mem.add_ram(0x8000, 0x10000).has_value());
    CHECK(mem.add_ram(0x20001, 0x1000).has_value());
    CHECK(mem.add_ram(0x20000, 0).has_value());
  }
  CHECK(mem.ram_bytes() == 0x20000);
}

TEST_CASE("GuestMemory overlays move to the guest's chosen address", "[kvm][memory]") {
  GuestMemory mem;
  REQUIRE_FALSE(mem.add_ram(0, 0x100000));
  using Event = GuestMemory::RegionEvent;
  std::vector<std::pair<Gpa, Event>> seen;
  mem.set_listener([&](const MemoryRegion& r, Event e) { seen.emplace_back(r.gpa, e); });

  REQUIRE_FALSE(mem.map_overlay(7, 0xfee00000, kPageSize));
  REQUIRE(mem.write_obj<std::uint32_t>(0xfee00010, 0x1234));
  CHECK_FALSE(mem.is_ram(0xfee00000, 4));
  REQUIRE_FALSE(mem.map_overlay(7, 0xfed00000, kPageSize));
  CHECK(mem.read_obj<std::uint32_t>(0xfed00010) == 0x1234u);  // contents follow the page
  CHECK_FALSE(mem.read_obj<std::uint32_t>(0xfee00010).has_value());
  REQUIRE(seen.size() == 3);
  CHECK(seen[1] == std::pair<Gpa, Event>(0xfee00000, Event::removed));
  CHECK(seen[2] == std::pair<Gpa, Event>(0xfed00000, Event::added));
  CHECK(mem.overlay_host(7) != nullptr);
  CHECK(mem.overlay_host(9) == nullptr);
  CHECK(mem.map_overlay(8, 0xfed00800, kPageSize).has_value());  // unaligned
}

namespace {
// The memslots a KVM listener would hold, replayed from the events (slot -> region).
struct FakeSlots {
  std::map<std::uint32_t, MemoryRegion> slots;
  void attach(GuestMemory& mem) {
    mem.set_listener([this](const MemoryRegion& r, GuestMemory::RegionEvent e) {
      if (e == GuestMemory::RegionEvent::removed) {
        REQUIRE(slots.erase(r.slot) == 1);
      } else {
        REQUIRE(slots.count(r.slot) == 0);
        slots[r.slot] = r;
      }
    });
  }
  // Slots never overlap and agree with GuestMemory's own regions.
  void check(const GuestMemory& mem) const {
    auto regions = mem.regions();
    REQUIRE(regions.size() == slots.size());
    for (const auto& r : regions) {
      REQUIRE(slots.count(r.slot) == 1);
      CHECK(slots.at(r.slot).gpa == r.gpa);
      CHECK(slots.at(r.slot).size == r.size);
      for (const auto& o : regions)
        if (&o != &r) CHECK_FALSE((r.gpa < o.end() && o.gpa < r.end()));
    }
  }
};
}  // namespace

TEST_CASE("an overlay over RAM replaces the RAM page until it moves away (Xen's add_to_physmap)", "[kvm][memory]") {
  GuestMemory mem;
  FakeSlots kvm;
  REQUIRE_FALSE(mem.add_ram(0, 0x100000));
  kvm.attach(mem);
  for (const auto& r : mem.regions()) kvm.slots[r.slot] = r;
  REQUIRE(mem.write_obj<std::uint32_t>(0x116000, 0) == false);  // outside RAM
  REQUIRE(mem.write_obj<std::uint32_t>(0x16010, 0xdeadbeef));
  REQUIRE(mem.write_obj<std::uint32_t>(0x15ffc, 0x11111111));

  REQUIRE_FALSE(mem.map_overlay(1, 0x16000, kPageSize));  // grant frame 0 onto RAM gfn 0x16
  kvm.check(mem);
  CHECK_FALSE(mem.is_ram(0x16000, kPageSize));
  CHECK(mem.is_ram(0x15000, kPageSize));
  CHECK(mem.is_ram(0x17000, 0x1000));
  CHECK(mem.span(0x16000, kPageSize).has_value());         // the overlay's page is memory...
  CHECK_FALSE(mem.ram_span(0x16000, kPageSize).has_value()); // ...but not RAM a guest may grant
  CHECK_FALSE(mem.ram_span(0x15800, kPageSize).has_value()); // runs into the overlay
  CHECK(mem.ram_span(0x15000, kPageSize)->data() == mem.span(0x15000, kPageSize)->data());
  CHECK_FALSE(mem.ram_span(0xff000, 2 * kPageSize).has_value());  // past the end of RAM
  CHECK(mem.ram_bytes() == 0x100000 - kPageSize);
  CHECK(mem.read_obj<std::uint32_t>(0x16010) == 0u);  // the frame's page, not the old RAM
  REQUIRE(mem.write_obj<std::uint32_t>(0x16020, 0x5a5a));
  CHECK(mem.overlay_host(1)[0x20] == std::byte{0x5a});
  CHECK(mem.read_obj<std::uint32_t>(0x15ffc) == 0x11111111u);  // RAM around it untouched

  SECTION("moving the frame away gives the RAM page back, zeroed (its memory was freed)") {
    REQUIRE_FALSE(mem.map_overlay(1, 0xfee00000, kPageSize));
    kvm.check(mem);
    CHECK(mem.is_ram(0x16000, kPageSize));
    CHECK(mem.read_obj<std::uint32_t>(0x16010) == 0u);
    CHECK(mem.read_obj<std::uint32_t>(0xfee00020) == 0x5a5au);
    CHECK(mem.ram_bytes() == 0x100000);
    CHECK(mem.discard(0x15000, 0x3000));  // balloon runs may span the old split
  }
  SECTION("another overlay mapped at the same GFN evicts the first; RAM returns when it leaves") {
    REQUIRE_FALSE(mem.map_overlay(2, 0x16000, kPageSize));  // shared_info onto the grant frame's GFN
    kvm.check(mem);
    CHECK(mem.read_obj<std::uint32_t>(0x16020) == 0u);
    CHECK(mem.overlay_host(1) != nullptr);  // the frame's contents are kept for its key
    CHECK_FALSE(mem.is_ram(0x16000, kPageSize));
    mem.unmap_overlay(2);
    kvm.check(mem);
    CHECK(mem.is_ram(0x16000, kPageSize));
    REQUIRE_FALSE(mem.map_overlay(1, 0x30000, kPageSize));  // the evicted frame maps again elsewhere
    CHECK(mem.read_obj<std::uint32_t>(0x30020) == 0x5a5au);
    kvm.check(mem);
  }
  SECTION("overlays at RAM edges, and a partial overlap is refused without changes") {
    REQUIRE_FALSE(mem.map_overlay(3, 0, kPageSize));
    REQUIRE_FALSE(mem.map_overlay(4, 0xff000, kPageSize));
    kvm.check(mem);
    CHECK(mem.map_overlay(5, 0xff000, 2 * kPageSize).has_value());  // straddles the end of RAM + overlay
    kvm.check(mem);
    CHECK(mem.ram_bytes() == 0x100000 - 3 * kPageSize);
  }
  SECTION("a guest moving frames around forever reuses memslot ids") {
    for (int i = 0; i < 1000; ++i) REQUIRE_FALSE(mem.map_overlay(1, Gpa(0x1000 + (i % 200) * 0x1000), kPageSize));
    kvm.check(mem);
    std::uint32_t max_slot = 0;
    for (const auto& r : mem.regions()) max_slot = std::max(max_slot, r.slot);
    CHECK(max_slot < 8);
    CHECK(mem.ram_bytes() == 0x100000 - kPageSize);
  }
}
