// The one test stand-in for guest-virtual memory: virtual == physical, as with paging off.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"

namespace kxen::test {

class IdentityVirtual final : public GuestVirtual {
 public:
  explicit IdentityVirtual(GuestMemory& memory) : memory_(memory) {}
  bool read(std::uint64_t gva, std::span<std::byte> out) override { return memory_.read(gva, out); }
  bool write(std::uint64_t gva, std::span<const std::byte> in) override { return memory_.write(gva, in); }
  std::optional<std::uint64_t> translate(std::uint64_t gva, bool) override { return gva; }

 private:
  GuestMemory& memory_;
};

}  // namespace kxen::test
