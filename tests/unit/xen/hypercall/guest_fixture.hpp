// A small guest for handler tests: RAM, a fake host, the dispatcher, and a buffer reached either
// through identity addressing or through 4-level page tables.
#pragma once

#include <memory>

#include "support.hpp"
#include "xen/hypercall/hypercalls.hpp"

namespace kxen::test {

struct Guest {
  static constexpr Gpa kRam = 16ull << 20;
  static constexpr Gpa kPool = 0x100000;
  static constexpr Gpa kBuf = 0x200000;           // guest-physical buffer (256 KiB mapped)
  static constexpr std::uint64_t kBufPages = 64;
  static constexpr std::uint64_t kHighVa = 0xffff888000200000ull;

  explicit Guest(bool paged, HypercallConfig config = {}) : hc(mem, host, std::move(config)) {
    REQUIRE_FALSE(mem.add_ram(0, kRam));
    if (!paged) {
      gv = std::make_unique<IdentityVirtual>(mem);
      buf = kBuf;
      return;
    }
    PageTables pt(mem, PagingMode::four_level, kPool);
    for (std::uint64_t i = 0; i < kBufPages; ++i) pt.map(kHighVa + i * kPageSize, kBuf + i * kPageSize);
    gv = std::make_unique<PagedGuestVirtual>(mem, state_for(PagingMode::four_level, pt.root()));
    buf = kHighVa;
  }

  HypercallOutcome call(std::uint64_t nr, std::uint64_t a0 = 0, std::uint64_t a1 = 0, std::uint64_t a2 = 0,
                        bool long_mode = true) {
    HypercallRequest req;
    req.nr = nr;
    req.long_mode = long_mode;
    req.args = {a0, a1, a2, 0, 0, 0};
    return hc.dispatch(req, *gv);
  }
  // The first guest-virtual address past the buffer's mapping (identity: the end of RAM).
  std::uint64_t bad() const { return buf == kBuf ? kRam : kHighVa + kBufPages * kPageSize; }

  GuestMemory mem;
  FakeHost host;
  Hypercalls hc;
  std::unique_ptr<GuestVirtual> gv;
  std::uint64_t buf = 0;  // guest-virtual address of kBuf
};

}  // namespace kxen::test
