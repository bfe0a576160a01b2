// Memory layout: RAM ranges, the guest's e820 map, special pages, size limits.
#include <catch2/catch.hpp>

#include "boot/e820.hpp"

using namespace kxen::boot;

namespace {

constexpr std::uint64_t MiB = 1ull << 20, GiB = 1ull << 30;

void check_sorted_disjoint(const std::vector<E820Entry>& map) {
  for (std::size_t i = 1; i < map.size(); ++i) CHECK(map[i - 1].end() <= map[i].addr);
  for (const auto& e : map) {
    CHECK(e.size > 0);
    CHECK(e.addr % kxen::kPageSize == 0);
    CHECK(e.size % kxen::kPageSize == 0);
  }
}

}  // namespace

TEST_CASE("512 MiB guest: low RAM, legacy hole, ACPI area, special pages", "[boot]") {
  auto layout = ram_layout(512 * MiB, 64 * GiB);
  REQUIRE(layout.has_value());
  REQUIRE(layout->ram == std::vector<RamRange>{{0, 512 * MiB}});
  const kxen::Gpa special = 512 * MiB - kSpecialPageCount * kxen::kPageSize;
  const std::vector<E820Entry> expected = {
      {0, 0xA0000, E820Type::ram},
      {0xA0000, 0x40000, E820Type::reserved},
      {0xE0000, 0x20000, E820Type::acpi},
      {0x100000, special - 0x100000, E820Type::ram},
      {special, kSpecialPageCount * kxen::kPageSize, E820Type::reserved},
  };
  CHECK(layout->e820 == expected);
  check_sorted_disjoint(layout->e820);
  CHECK(layout->special.base() == special);
  CHECK(layout->special.count == 8);
  CHECK(layout->special.console_pfn() == special >> 12);
  CHECK(layout->special.xenstore_pfn() == (special >> 12) + 1);
  CHECK(layout->acpi_base == 0xE0000);
  CHECK(e820_contains(layout->e820, 0x9F000, 0x1000, E820Type::ram));
  CHECK_FALSE(e820_contains(layout->e820, 0x9F000, 0x2000, E820Type::ram));
  CHECK(e820_contains(layout->e820, layout->special.console_pfn() << 12, 0x1000, E820Type::reserved));
}

TEST_CASE("6 GiB guest: RAM splits around the 3-4 GiB hole", "[boot]") {
  auto layout = ram_layout(6 * GiB, 64 * GiB);
  REQUIRE(layout.has_value());
  REQUIRE(layout->ram == std::vector<RamRange>{{0, 3 * GiB}, {4 * GiB, 3 * GiB}});
  check_sorted_disjoint(layout->e820);
  CHECK(layout->special.end() == 3 * GiB);
  CHECK(layout->e820.back() == E820Entry{4 * GiB, 3 * GiB, E820Type::ram});
  std::uint64_t ram = 0;
  for (const auto& e : layout->e820)
    if (e.type == E820Type::ram) ram += e.size;
  // Everything backed is RAM except the legacy hole, the ACPI area and the special pages.
  CHECK(ram == 6 * GiB - 0x60000 - kSpecialPageCount * kxen::kPageSize);
  CHECK_FALSE(e820_contains(layout->e820, 3 * GiB, 0x1000, E820Type::ram));
}

TEST_CASE("exactly 3 GiB has no high RAM", "[boot]") {
  auto layout = ram_layout(3 * GiB, 64 * GiB);
  REQUIRE(layout.has_value());
  CHECK(layout->ram.size() == 1);
  CHECK(layout->e820.back().type == E820Type::reserved);
}

TEST_CASE("memory size limits say what the limit is", "[boot]") {
  auto small = ram_layout(16 * MiB, 64 * GiB);
  REQUIRE_FALSE(small.has_value());
  CHECK(small.error() == "guest memory 16 MiB is too small; the minimum is 32 MiB");
  auto big = ram_layout(8 * GiB, 4 * GiB);
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error() == "guest memory 8192 MiB exceeds this host's limit of 4096 MiB");
  auto odd = ram_layout(64 * MiB + 100, 64 * GiB);
  REQUIRE_FALSE(odd.has_value());
  CHECK_THAT(odd.error(), Catch::Contains("not a multiple of 4 KiB"));
  CHECK(ram_layout(kMinGuestMemory, kMinGuestMemory).has_value());
}
