// Decoding of guest writes to the hardware-reduced sleep control register.
#include "boot/acpi/sleep_control.hpp"

namespace kxen::boot::acpi {

std::optional<unsigned> decode_sleep_control(std::uint8_t value) {
  if ((value & kSleepEnable) == 0) return std::nullopt;
  return (value >> kSleepTypeShift) & kSleepTypeMask;
}

}  // namespace kxen::boot::acpi
