// Shared fixture for grant-table tests: 1 MiB of real guest RAM and a table of up to 4 frames
// whose frame 0 the guest has mapped at kFrameGfn (a hole above RAM).
#pragma once

#include "../../support/identity_virtual.hpp"
#include "xen/gnttab/grant_abi.hpp"

#include <catch2/catch.hpp>

#include <cstring>

#include "xen/gnttab/grant_table.hpp"

namespace kxen::test {

inline constexpr std::uint64_t kFrameGfn = 0x200;
inline constexpr std::uint64_t kStatusGfn = 0x300;
inline constexpr std::uint64_t kDataGfn = 0x50;

using GnttabGva = IdentityVirtual;

struct GnttabWorld {
  GuestMemory memory;
  GrantTable table;

  GnttabWorld() : table(GrantTableConfig{1, 4, 1}, memory) {
    REQUIRE_FALSE(memory.add_ram(0, 1 << 20));
    REQUIRE(table.map_frame(0, false, kFrameGfn) == 0);
  }
  std::uint32_t header(grant_ref_t ref) {
    std::uint32_t h;
    std::memcpy(&h, entry(ref), 4);
    return h;
  }
  std::uint16_t flags(grant_ref_t ref) { return static_cast<std::uint16_t>(header(ref) & 0xffff); }
  std::byte* entry(grant_ref_t ref) {
    const std::size_t size = table.version() == 1 ? 8 : 16;
    const std::size_t per = 4096 / size;
    return table.shared_frame(ref / per) + (ref % per) * size;
  }
  void grant_v1(grant_ref_t ref, std::uint16_t flags, domid_t dom = 0, std::uint32_t frame = kDataGfn) {
    const grant_entry_v1_t e{flags, dom, frame};
    std::memcpy(entry(ref), &e, sizeof e);
  }
  void grant_v2(grant_ref_t ref, std::uint16_t flags, domid_t dom = 0, std::uint64_t frame = kDataGfn,
                std::uint16_t off = 0, std::uint16_t len = 0) {
    grant_entry_v2_t e{};
    e.sub_page.hdr = {flags, dom};
    e.sub_page.page_off = off;
    e.sub_page.length = len;
    e.sub_page.frame = frame;
    std::memcpy(entry(ref), &e, sizeof e);
  }
  std::uint16_t status(grant_ref_t ref) {
    std::uint16_t s;
    std::memcpy(&s, table.status_frame(ref / 2048) + (ref % 2048) * 2, 2);
    return s;
  }
  void to_v2() {
    gnttab_set_version op{2};
    REQUIRE(table.set_version(op) == 0);
    REQUIRE(table.map_frame(0, true, kStatusGfn) == 0);
  }
};

}  // namespace kxen::test
