// The guest's side of a console page in a real GuestMemory, as Linux's hvc_xen drives it.
#pragma once

#include "kxen/guest_memory.hpp"

// Xen's public headers expect the C fixed-width types to be declared already.
#include <stdint.h>

#include <xen/xen.h>
#include <xen/io/console.h>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kxen::console::test {

class FakeConsoleGuest {
 public:
  static constexpr Gpa kPageGpa = 0x10000;

  FakeConsoleGuest() { REQUIRE_FALSE(memory_.add_ram(kPageGpa, kPageSize).has_value()); }

  std::span<std::byte> page() {
    auto view = memory_.span(kPageGpa, kPageSize);
    REQUIRE(view.has_value());
    return *view;
  }

  std::uint32_t index(std::size_t offset) const {
    auto value = memory_.read_obj<std::uint32_t>(kPageGpa + offset);
    REQUIRE(value.has_value());
    return *value;
  }
  void set_index(std::size_t offset, std::uint32_t value) {
    REQUIRE(memory_.write_obj(kPageGpa + offset, value));
  }

  // Produces `text` into `out` the way hvc_xen does (wrapping, no overflow check on purpose:
  // callers keep within the free space).
  void write_output(std::string_view text) {
    std::uint32_t prod = index(offsetof(xencons_interface, out_prod));
    for (char c : text) {
      const std::size_t slot = prod & (sizeof(xencons_interface::out) - 1);
      REQUIRE(memory_.write_obj(kPageGpa + offsetof(xencons_interface, out) + slot, c));
      ++prod;
    }
    set_index(offsetof(xencons_interface, out_prod), prod);
  }

  // Consumes everything the backend put into `in`.
  std::string read_input() {
    std::uint32_t cons = index(offsetof(xencons_interface, in_cons));
    const std::uint32_t prod = index(offsetof(xencons_interface, in_prod));
    std::string text;
    for (; cons != prod && text.size() <= sizeof(xencons_interface::in); ++cons) {
      const std::size_t slot = cons & (sizeof(xencons_interface::in) - 1);
      auto c = memory_.read_obj<char>(kPageGpa + offsetof(xencons_interface, in) + slot);
      REQUIRE(c.has_value());
      text.push_back(*c);
    }
    set_index(offsetof(xencons_interface, in_cons), cons);
    return text;
  }

 private:
  GuestMemory memory_;
};

}  // namespace kxen::console::test
