// Kernel placement (link address, relocation, refusals) and initrd placement in guest RAM.
#include <catch2/catch.hpp>

#include <xen/elfnote.h>

#include "boot/pvh_loader.hpp"
#include "elf_builder.hpp"

using namespace kxen::boot;
using namespace kxen::boot::test;
using kxen::GuestMemory;

namespace {

constexpr std::uint64_t MiB = 1ull << 20;

struct Guest {
  MemoryLayout layout;
  GuestMemory mem;
  explicit Guest(std::uint64_t bytes = 64 * MiB) : layout(*ram_layout(bytes, 1ull << 40)) {
    for (const auto& r : layout.ram) REQUIRE_FALSE(mem.add_ram(r.gpa, r.size).has_value());
  }
};

// Two segments: code (with its tail as bss) and data, linked at `base`.
ElfImage kernel_at(std::uint64_t base, std::optional<std::vector<std::uint32_t>> reloc = std::nullopt,
                   std::uint32_t entry_offset = 0x40) {
  ElfBuilder b;
  b.segments.push_back({base, pattern(0x3000, 1), 0x5000, 0x200000, PF_R | PF_X});
  b.segments.push_back({base + 0x200000, pattern(0x1000, 2), 0x1000, 0x200000, PF_R | PF_W});
  b.notes.push_back(xen_note(XEN_ELFNOTE_PHYS32_ENTRY, base + entry_offset));
  if (reloc) {
    TestNote n{"Xen", XEN_ELFNOTE_PHYS32_RELOC, {}};
    for (auto v : *reloc) {
      auto w = le_bytes(v, 4);
      n.desc.insert(n.desc.end(), w.begin(), w.end());
    }
    b.notes.push_back(n);
  }
  auto img = parse_elf(b.build());
  REQUIRE(img.has_value());
  return std::move(*img);
}

std::vector<std::byte> guest_bytes(const GuestMemory& mem, kxen::Gpa gpa, std::size_t n) {
  std::vector<std::byte> out(n);
  REQUIRE(mem.read(gpa, out));
  return out;
}

std::string load_error(const ElfImage& elf, Guest& g) {
  auto r = load_kernel(g.mem, elf, g.layout);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace

TEST_CASE("kernel loads at its link address: bytes copied, bss zeroed", "[boot]") {
  Guest g;
  const std::vector<std::byte> dirty(0x300000, std::byte{0xAA});
  REQUIRE(g.mem.write(0x1000000, dirty));
  auto k = kernel_at(0x1000000);
  auto placed = load_kernel(g.mem, k, g.layout);
  REQUIRE(placed.has_value());
  CHECK_FALSE(placed->relocated());
  CHECK(placed->entry == 0x1000040);
  CHECK(placed->range == GpaRange{0x1000000, 0x1201000});
  CHECK(guest_bytes(g.mem, 0x1000000, 0x3000) == pattern(0x3000, 1));
  CHECK(guest_bytes(g.mem, 0x1003000, 0x2000) == std::vector<std::byte>(0x2000));
  CHECK(guest_bytes(g.mem, 0x1200000, 0x1000) == pattern(0x1000, 2));
}

TEST_CASE("a kernel without PHYS32_RELOC cannot move", "[boot]") {
  Guest g(32 * MiB);
  auto k = kernel_at(0x2000000);  // the end of RAM: 32 MiB
  const auto err = load_error(k, g);
  CHECK_THAT(err, Catch::Contains("is not in free guest RAM"));
  CHECK_THAT(err, Catch::Contains("no XEN_ELFNOTE_PHYS32_RELOC"));
}

TEST_CASE("segments on reserved areas are refused", "[boot]") {
  Guest g;
  SECTION("boot-info area") {
    CHECK_THAT(load_error(kernel_at(0x6000), g), Catch::Contains("overlaps the boot-info area 0x6000-0x9000"));
  }
  SECTION("ACPI area and legacy hole") {
    CHECK_THAT(load_error(kernel_at(0xE0000), g), Catch::Contains("kernel segment 0xe0000-0xe5000 is not in free"));
  }
  SECTION("special pages") {
    const auto special = g.layout.special.base();
    CHECK_THAT(load_error(kernel_at(special - 0x200000), g), Catch::Contains("is not in free guest RAM"));
  }
}

TEST_CASE("overlapping segments and an entry outside the image are refused", "[boot]") {
  Guest g;
  ElfBuilder b;
  b.segments.push_back({0x1000000, pattern(0x2000, 1)});
  b.segments.push_back({0x1001000, pattern(0x2000, 2)});
  b.notes.push_back(xen_note(XEN_ELFNOTE_PHYS32_ENTRY, 0x1000000));
  auto overlap = parse_elf(b.build());
  REQUIRE(overlap.has_value());
  CHECK_THAT(load_error(*overlap, g), Catch::Contains("ELF segments at 0x1000000+0x2000 and 0x1001000+0x2000 overlap"));
  auto outside = kernel_at(0x1000000, std::nullopt, 0x400000);
  CHECK(load_error(outside, g) == "XEN_ELFNOTE_PHYS32_ENTRY 0x1400000 is outside the kernel's segments");
}

TEST_CASE("relocatable kernel moves to the lowest aligned fit and its entry follows", "[boot]") {
  Guest g;
  SECTION("linked in the MMIO hole, min 16 MiB") {
    auto k = kernel_at(0xC0000000, std::vector<std::uint32_t>{0x200000, 0x1000000, 0x3fffffff});
    auto placed = load_kernel(g.mem, k, g.layout);
    REQUIRE(placed.has_value());
    CHECK(placed->relocated());
    CHECK(placed->range.start == 0x1000000);
    CHECK(placed->entry == 0x1000040);
    CHECK(placed->shift == 0x1000000ll - 0xC0000000ll);
    CHECK(guest_bytes(g.mem, 0x1000000, 0x3000) == pattern(0x3000, 1));
    CHECK(guest_bytes(g.mem, 0x1200000, 0x1000) == pattern(0x1000, 2));
  }
  SECTION("linked on the ACPI area, defaults: first 2 MiB-aligned RAM") {
    auto k = kernel_at(0xE0000, std::vector<std::uint32_t>{});
    auto placed = load_kernel(g.mem, k, g.layout);
    REQUIRE(placed.has_value());
    CHECK(placed->range.start == 0x200000);
    CHECK(placed->entry == 0x200040);
  }
  SECTION("no fit under max") {
    auto k = kernel_at(0xC0000000, std::vector<std::uint32_t>{0x200000, 0x1000000, 0x1100000});
    CHECK_THAT(load_error(k, g), Catch::Contains("no 0x200000-aligned place for the 3 MiB kernel in [0x1000000, 0x1100000]"));
  }
  SECTION("at its link address when that fits, even with the note") {
    auto k = kernel_at(0x1000000, std::vector<std::uint32_t>{0x200000, 0x400000});
    auto placed = load_kernel(g.mem, k, g.layout);
    REQUIRE(placed.has_value());
    CHECK_FALSE(placed->relocated());
  }
}

TEST_CASE("initrd goes page-aligned as high as fits below 4 GiB, above the kernel", "[boot]") {
  Guest g;
  const GpaRange kernel{0x1000000, 0x1201000};
  std::vector<std::byte> initrd = pattern(3 * MiB + 123, 7);
  auto where = load_initrd(g.mem, initrd, g.layout, kernel);
  REQUIRE(where.has_value());
  CHECK(where->start % kxen::kPageSize == 0);
  CHECK(where->size() == initrd.size());
  CHECK(where->end <= g.layout.special.base());
  CHECK(g.layout.special.base() - where->end < kxen::kPageSize);
  CHECK(guest_bytes(g.mem, where->start, initrd.size()) == initrd);
}

TEST_CASE("initrd placement in a big guest stays below the 3 GiB hole", "[boot]") {
  auto layout = *ram_layout(8ull << 30, 1ull << 40);
  auto where = place_initrd(100 * MiB, layout, {0x1000000, 0x5000000});
  REQUIRE(where.has_value());
  CHECK(where->end <= layout.special.base());
  CHECK(where->start >= 0xC0000000 - 101 * MiB);
}

TEST_CASE("initrd too big for the guest: error with the sizes", "[boot]") {
  Guest g(64 * MiB);
  auto r = place_initrd(60 * MiB, g.layout, {0x1000000, 0x1201000});
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error(), Catch::Contains("guest memory too small"));
  CHECK_THAT(r.error(), Catch::Contains("(60 MiB) initrd"));
  CHECK_THAT(r.error(), Catch::Contains("guest has 64 MiB"));
  CHECK_FALSE(place_initrd(0, g.layout, {0x1000000, 0x1201000}).has_value());
}
