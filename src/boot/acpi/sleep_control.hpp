// The hardware-reduced ACPI sleep and reset registers kxen advertises in the FADT, and their decoding.
#pragma once

#include <cstdint>
#include <optional>

namespace kxen::boot::acpi {

// I/O ports of the FADT's SLEEP_CONTROL_REG / SLEEP_STATUS_REG (8-bit each). Nothing else in
// a kxen guest's I/O space uses them; the VMM traps byte writes there.
inline constexpr std::uint16_t kSleepControlPort = 0x404;
inline constexpr std::uint16_t kSleepStatusPort = 0x405;
// FADT RESET_REG: Linux's default reboot (BOOT_ACPI) writes kResetValue here; it means "reboot".
inline constexpr std::uint16_t kResetPort = 0x406;
inline constexpr std::uint8_t kResetValue = 0x01;

// Sleep control register bits (ACPI 6.x §4.8.3.7): SLP_TYPx in bits 2..4, SLP_EN bit 5.
inline constexpr std::uint8_t kSleepTypeShift = 2;
inline constexpr std::uint8_t kSleepTypeMask = 0x7;
inline constexpr std::uint8_t kSleepEnable = 1u << 5;
// Sleep status register: WAK_STS bit 7 (write 1 to clear).
inline constexpr std::uint8_t kWakeStatus = 1u << 7;

// SLP_TYP value the DSDT's _S5 package hands Linux for soft-off.
inline constexpr unsigned kSleepTypeS5 = 5;

// The SLP_TYP the guest asks for when SLP_EN is set in a sleep control write; nullopt otherwise
// (writes without SLP_EN only stage the type and must not act).
std::optional<unsigned> decode_sleep_control(std::uint8_t value);

}  // namespace kxen::boot::acpi
