#include <catch2/catch.hpp>

#include <array>
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
  std::vector<std::pair<Gpa, std::optional<Gpa>>> seen;
  mem.set_listener([&](const MemoryRegion& r, std::optional<Gpa> old) { seen.emplace_back(r.gpa, old); });

  REQUIRE_FALSE(mem.map_overlay(7, 0xfee00000, kPageSize));
  REQUIRE(mem.write_obj<std::uint32_t>(0xfee00010, 0x1234));
  CHECK_FALSE(mem.is_ram(0xfee00000, 4));
  REQUIRE_FALSE(mem.map_overlay(7, 0xfed00000, kPageSize));
  CHECK(mem.read_obj<std::uint32_t>(0xfed00010) == 0x1234u);  // contents follow the page
  CHECK_FALSE(mem.read_obj<std::uint32_t>(0xfee00010).has_value());
  CHECK(mem.map_overlay(8, 0x1000, kPageSize).has_value());  // may not cover RAM
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].first == 0xfed00000);
  CHECK(seen[1].second == std::optional<Gpa>(0xfee00000));
  CHECK(mem.overlay_host(7) != nullptr);
  CHECK(mem.overlay_host(9) == nullptr);
}
