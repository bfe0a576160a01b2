// Sleep control register decoding [acpi].
#include <catch2/catch.hpp>

#include "boot/acpi/sleep_control.hpp"

using namespace kxen::boot::acpi;

TEST_CASE("sleep control: SLP_EN with SLP_TYP 5 is S5", "[acpi]") {
  const auto value = static_cast<std::uint8_t>((kSleepTypeS5 << 2) | 0x20);
  REQUIRE(value == 0x34);
  REQUIRE(decode_sleep_control(value) == std::optional<unsigned>(5));
}

TEST_CASE("sleep control: without SLP_EN nothing happens", "[acpi]") {
  for (unsigned typ = 0; typ < 8; ++typ) {
    CHECK_FALSE(decode_sleep_control(static_cast<std::uint8_t>(typ << 2)).has_value());
  }
  CHECK_FALSE(decode_sleep_control(0xDF).has_value());  // every bit but SLP_EN
}

TEST_CASE("sleep control: every type decodes, other bits ignored", "[acpi]") {
  for (unsigned typ = 0; typ < 8; ++typ) {
    const auto v = static_cast<std::uint8_t>((typ << 2) | 0x20);
    CHECK(decode_sleep_control(v) == std::optional<unsigned>(typ));
    CHECK(decode_sleep_control(static_cast<std::uint8_t>(v | 0xC3)) == std::optional<unsigned>(typ));
  }
}
