// Test doubles for the hypercall core: a recording host, identity virtual memory, page tables.
#pragma once

#include "../../support/identity_virtual.hpp"
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"
#include "xen/hypercall/paged_guest_virtual.hpp"

namespace kxen::test {

class FakeHost final : public HypercallHost {
 public:
  void console_output(std::string_view bytes) override { output += bytes; }
  std::size_t console_input(std::span<char> out) override {
    std::size_t n = 0;
    while (n < out.size() && !input.empty()) {
      out[n++] = input.front();
      input.pop_front();
    }
    return n;
  }
  void shutdown(ShutdownReason reason) override { shutdowns.push_back(reason); }

  std::string output;
  std::deque<char> input;
  std::vector<ShutdownReason> shutdowns;
};


inline constexpr std::uint64_t kP = 1, kRW = 2, kPS = 0x80;
inline constexpr std::uint64_t kCr0Pe = 1, kCr0Wp = 1ull << 16, kCr0Pg = 1ull << 31;
inline constexpr std::uint64_t kCr4Pse = 1ull << 4, kCr4Pae = 1ull << 5, kCr4La57 = 1ull << 12;
inline constexpr std::uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10, kEferNxe = 1ull << 11;

// Builds page tables of any x86 mode in guest RAM, taking table pages from a pool.
class PageTables final {
 public:
  PageTables(GuestMemory& memory, PagingMode mode, Gpa pool) : memory_(memory), mode_(mode), next_(pool) {
    root_ = alloc();
  }
  Gpa root() const { return root_; }
  int levels() const { return mode_ == PagingMode::five_level ? 5 : mode_ == PagingMode::four_level ? 4 : mode_ == PagingMode::pae ? 3 : 2; }
  unsigned entry_size() const { return mode_ == PagingMode::two_level ? 4 : 8; }
  unsigned shift(int level) const {
    return mode_ == PagingMode::two_level ? 12 + 10 * static_cast<unsigned>(level - 1)
                                          : 12 + 9 * static_cast<unsigned>(level - 1);
  }
  std::uint64_t index(int level, std::uint64_t gva) const {
    const unsigned width = mode_ == PagingMode::two_level ? 10 : (mode_ == PagingMode::pae && level == 3) ? 2 : 9;
    return (gva >> shift(level)) & ((1ull << width) - 1);
  }

  // Maps gva -> gpa with a leaf at `leaf_level` (1 = 4 KiB, 2 = 2/4 MiB, 3 = 1 GiB).
  void map(std::uint64_t gva, Gpa gpa, int leaf_level = 1, std::uint64_t leaf_flags = kP | kRW,
           std::uint64_t table_flags = kP | kRW) {
    Gpa table = root_;
    for (int level = levels(); level > leaf_level; --level) {
      const Gpa slot = table + index(level, gva) * entry_size();
      std::uint64_t e = get(slot);
      if (!(e & kP)) {
        const bool pdpte = mode_ == PagingMode::pae && level == 3;
        e = alloc() | (pdpte ? kP : table_flags);
        set(slot, e);
      }
      table = e & 0x000ffffffffff000ull;
    }
    set(table + index(leaf_level, gva) * entry_size(), gpa | leaf_flags | (leaf_level > 1 ? kPS : 0));
  }

  // Address of the entry at `level` that maps gva (after map() built the path).
  Gpa slot(int level, std::uint64_t gva) const {
    Gpa table = root_;
    for (int l = levels(); l > level; --l) table = get(table + index(l, gva) * entry_size()) & 0x000ffffffffff000ull;
    return table + index(level, gva) * entry_size();
  }
  std::uint64_t get(Gpa slot) const {
    if (entry_size() == 4) return *memory_.read_obj<std::uint32_t>(slot);
    return *memory_.read_obj<std::uint64_t>(slot);
  }
  void set(Gpa slot, std::uint64_t e) {
    if (entry_size() == 4) memory_.write_obj(slot, static_cast<std::uint32_t>(e));
    else memory_.write_obj(slot, e);
  }

 private:
  Gpa alloc() {
    const Gpa page = next_;
    next_ += kPageSize;
    std::vector<std::byte> zero(kPageSize);
    memory_.write(page, zero);
    return page;
  }
  GuestMemory& memory_;
  PagingMode mode_;
  Gpa next_;
  Gpa root_ = 0;
};

inline PagingState state_for(PagingMode mode, Gpa cr3) {
  PagingState s;
  s.cr3 = cr3;
  s.cr0 = kCr0Pe | kCr0Wp | kCr0Pg;
  switch (mode) {
    case PagingMode::flat: s.cr0 = kCr0Pe; break;
    case PagingMode::two_level: s.cr4 = kCr4Pse; break;
    case PagingMode::pae: s.cr4 = kCr4Pae; s.efer = kEferNxe; break;
    case PagingMode::four_level: s.cr4 = kCr4Pae; s.efer = kEferLme | kEferLma | kEferNxe; break;
    case PagingMode::five_level: s.cr4 = kCr4Pae | kCr4La57; s.efer = kEferLme | kEferLma | kEferNxe; break;
    case PagingMode::invalid: break;
  }
  return s;
}

inline std::string read_string(GuestMemory& m, Gpa gpa, std::size_t max) {
  std::string s(max, '\0');
  m.read(gpa, std::as_writable_bytes(std::span(s)));
  return s.substr(0, s.find('\0'));
}

}  // namespace kxen::test
