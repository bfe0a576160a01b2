// hvm_start_info v1, memmap, modlist and command line as the guest reads them back.
#include <catch2/catch.hpp>

#include <cstring>

#include "boot/start_info.hpp"

using namespace kxen::boot;
using kxen::GuestMemory;

namespace {

constexpr std::uint64_t MiB = 1ull << 20;

struct Guest {
  MemoryLayout layout = *ram_layout(64 * MiB, 1ull << 40);
  GuestMemory mem;
  Guest() {
    for (const auto& r : layout.ram) REQUIRE_FALSE(mem.add_ram(r.gpa, r.size).has_value());
  }
};

std::string read_cstring(const GuestMemory& mem, kxen::Gpa gpa, std::size_t max) {
  std::string s;
  for (std::size_t i = 0; i < max; ++i) {
    auto c = mem.read_obj<char>(gpa + i);
    REQUIRE(c.has_value());
    if (*c == '\0') return s;
    s.push_back(*c);
  }
  FAIL("no NUL terminator");
  return s;
}

}  // namespace

TEST_CASE("start_info v1 with initrd module, memmap, cmdline and RSDP", "[boot]") {
  Guest g;
  const GpaRange initrd{0x3000000, 0x3000000 + 12345};
  auto si_gpa = write_start_info(g.mem, {"console=hvc0 root=/dev/xvda", 0xE0000, initrd, g.layout.e820});
  REQUIRE(si_gpa.has_value());
  CHECK(*si_gpa == kStartInfoGpa);
  auto si = g.mem.read_obj<hvm_start_info>(*si_gpa);
  REQUIRE(si.has_value());
  CHECK(si->magic == XEN_HVM_START_MAGIC_VALUE);
  CHECK(si->version == 1);
  CHECK(si->flags == 0);
  CHECK(si->rsdp_paddr == 0xE0000);
  CHECK(si->reserved == 0);
  // Linux's early page tables map only the first GiB.
  for (auto p : {si->cmdline_paddr, si->modlist_paddr, si->memmap_paddr}) CHECK(p < (1ull << 30));
  CHECK(read_cstring(g.mem, si->cmdline_paddr, 2048) == "console=hvc0 root=/dev/xvda");
  REQUIRE(si->nr_modules == 1);
  auto mod = g.mem.read_obj<hvm_modlist_entry>(si->modlist_paddr);
  REQUIRE(mod.has_value());
  CHECK(mod->paddr == 0x3000000);
  CHECK(mod->size == 12345);
  CHECK(mod->cmdline_paddr == 0);
  REQUIRE(si->memmap_entries == g.layout.e820.size());
  for (std::uint32_t i = 0; i < si->memmap_entries; ++i) {
    auto e = g.mem.read_obj<hvm_memmap_table_entry>(si->memmap_paddr + i * sizeof(hvm_memmap_table_entry));
    REQUIRE(e.has_value());
    CHECK(e->addr == g.layout.e820[i].addr);
    CHECK(e->size == g.layout.e820[i].size);
    CHECK(e->type == static_cast<std::uint32_t>(g.layout.e820[i].type));
    CHECK(e->reserved == 0);
  }
  // The structures must not overlap one another.
  CHECK(si->modlist_paddr >= *si_gpa + sizeof(hvm_start_info));
  CHECK(si->memmap_paddr >= si->modlist_paddr + sizeof(hvm_modlist_entry));
  CHECK(si->cmdline_paddr >= si->memmap_paddr + si->memmap_entries * sizeof(hvm_memmap_table_entry));
}

TEST_CASE("start_info without initrd or ACPI; stale data is cleared", "[boot]") {
  Guest g;
  const std::vector<std::byte> junk(kBootInfoArea.size(), std::byte{0xAA});
  REQUIRE(g.mem.write(kBootInfoArea.start, junk));
  auto si_gpa = write_start_info(g.mem, {"", 0, std::nullopt, g.layout.e820});
  REQUIRE(si_gpa.has_value());
  auto si = g.mem.read_obj<hvm_start_info>(*si_gpa);
  CHECK(si->nr_modules == 0);
  CHECK(si->modlist_paddr == 0);
  CHECK(si->rsdp_paddr == 0);
  CHECK(read_cstring(g.mem, si->cmdline_paddr, 1).empty());
  CHECK(g.mem.read_obj<std::uint64_t>(kModlistGpa) == 0u);
}

TEST_CASE("command line limit is Linux's 2047 bytes", "[boot]") {
  Guest g;
  const std::string max(2047, 'x');
  auto ok = write_start_info(g.mem, {max, 0, std::nullopt, g.layout.e820});
  REQUIRE(ok.has_value());
  CHECK(read_cstring(g.mem, kCmdlineGpa, 2048) == max);
  auto too_long = write_start_info(g.mem, {std::string(2048, 'x'), 0, std::nullopt, g.layout.e820});
  REQUIRE_FALSE(too_long.has_value());
  CHECK(too_long.error() == "command line is 2048 bytes; the limit is 2047");
  CHECK(check_cmdline(std::string("a\0b", 3)) == "command line contains a NUL byte");
}

TEST_CASE("start_info refuses an RSDP outside RAM and a missing boot-info area", "[boot]") {
  Guest g;
  auto rsdp = write_start_info(g.mem, {"", 0xFFFF0000, std::nullopt, g.layout.e820});
  REQUIRE_FALSE(rsdp.has_value());
  CHECK_THAT(rsdp.error(), Catch::Contains("RSDP at 0xffff0000 is not in guest RAM"));
  GuestMemory high_only;
  REQUIRE_FALSE(high_only.add_ram(0x100000, 0x100000).has_value());
  auto none = write_start_info(high_only, {"", 0, std::nullopt, g.layout.e820});
  REQUIRE_FALSE(none.has_value());
  CHECK_THAT(none.error(), Catch::Contains("boot-info area 0x6000-0x9000 is not guest RAM"));
  std::vector<E820Entry> huge(kMaxMemmapEntries + 1, E820Entry{0, 0x1000, E820Type::ram});
  auto many = write_start_info(g.mem, {"", 0, std::nullopt, huge});
  REQUIRE_FALSE(many.has_value());
  CHECK_THAT(many.error(), Catch::Contains("memory map has"));
}
