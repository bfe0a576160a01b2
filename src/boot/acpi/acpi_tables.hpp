// Builds the ACPI tables a PVH guest needs for SMP and power-off: RSDP → XSDT → FADT, MADT; DSDT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "boot/acpi/sleep_control.hpp"
#include "boot/e820.hpp"
#include "kxen/guest_memory.hpp"

namespace kxen::boot::acpi {

// KVM's in-kernel IOAPIC (KVM_CREATE_IRQCHIP) sits here with GSI base 0.
inline constexpr std::uint32_t kIoApicAddress = 0xFEC00000;
inline constexpr std::uint32_t kLocalApicAddress = 0xFEE00000;
// xAPIC MADT entries carry an 8-bit APIC ID and 0xFF is the broadcast ID.
inline constexpr std::uint32_t kMaxVcpus = 255;

struct AcpiConfig {
  std::uint32_t vcpus = 1;                // MADT gets APIC ID = ACPI UID = vCPU id 0..vcpus-1
  Gpa base = kAcpiBase;                   // where the bytes go; must be below 4 GiB
  std::uint64_t size_limit = kAcpiSize;   // bytes available at base
  std::uint16_t sleep_control_port = kSleepControlPort;
  std::uint16_t sleep_status_port = kSleepStatusPort;
  std::uint16_t reset_port = kResetPort;
  bool ioapic = true;                     // describe KVM's in-kernel IOAPIC in the MADT
  bool lapic = true;                      // false: no local APIC exists, so no MADT at all
};

struct AcpiTables {
  Gpa base = 0;                  // GPA of bytes[0]
  Gpa rsdp = 0;                  // for hvm_start_info.rsdp_paddr
  Gpa xsdt = 0, fadt = 0, madt = 0, dsdt = 0;  // madt 0: none (no LAPIC)
  std::vector<std::byte> bytes;  // every table, laid out from base
};

// Lays out RSDP, XSDT, FADT, MADT and DSDT from cfg.base; error if cfg is invalid or they don't fit.
std::expected<AcpiTables, std::string> build_acpi_tables(const AcpiConfig& cfg);

// Copies built tables into guest memory at tables.base; error text if the range is not backed.
std::expected<void, std::string> write_acpi_tables(GuestMemory& mem, const AcpiTables& tables);

// Builds and writes in one step; returns the RSDP's GPA.
std::expected<Gpa, std::string> write_acpi_tables(GuestMemory& mem, const AcpiConfig& cfg);

// Byte sum over data; a valid ACPI checksummed range sums to 0 (mod 256).
std::uint8_t acpi_byte_sum(std::span<const std::byte> data);

}  // namespace kxen::boot::acpi
