// ACPI 6.x table layouts kxen emits (no system header defines them), one packed struct per table.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kxen::boot::acpi {

#pragma pack(push, 1)

// Root System Description Pointer, revision 2 (ACPI 6.x §5.2.5.3).
struct Rsdp {
  char signature[8];            // "RSD PTR "
  std::uint8_t checksum;        // covers the first 20 bytes
  char oem_id[6];
  std::uint8_t revision;        // 2 = ACPI 2.0+ (has the XSDT fields)
  std::uint32_t rsdt_address;
  std::uint32_t length;         // whole structure
  std::uint64_t xsdt_address;
  std::uint8_t extended_checksum;  // covers all 36 bytes
  std::uint8_t reserved[3];
};
static_assert(sizeof(Rsdp) == 36);
static_assert(offsetof(Rsdp, checksum) == 8);
static_assert(offsetof(Rsdp, revision) == 15);
static_assert(offsetof(Rsdp, length) == 20);
static_assert(offsetof(Rsdp, xsdt_address) == 24);
static_assert(offsetof(Rsdp, extended_checksum) == 32);
inline constexpr std::size_t kRsdpV1Length = 20;

// Common header of every System Description Table (§5.2.6).
struct SdtHeader {
  char signature[4];
  std::uint32_t length;         // header + body
  std::uint8_t revision;
  std::uint8_t checksum;        // whole table sums to 0
  char oem_id[6];
  char oem_table_id[8];
  std::uint32_t oem_revision;
  char creator_id[4];
  std::uint32_t creator_revision;
};
static_assert(sizeof(SdtHeader) == 36);
static_assert(offsetof(SdtHeader, length) == 4);
static_assert(offsetof(SdtHeader, checksum) == 9);
static_assert(offsetof(SdtHeader, oem_id) == 10);

// XSDT: header followed by 64-bit table addresses (unaligned in memory).
inline constexpr std::size_t kXsdtEntrySize = 8;

// Generic Address Structure (§5.2.3.2).
struct Gas {
  std::uint8_t space_id;        // 1 = System I/O
  std::uint8_t bit_width;
  std::uint8_t bit_offset;
  std::uint8_t access_size;     // 1 = byte access
  std::uint64_t address;
};
static_assert(sizeof(Gas) == 12);
static_assert(offsetof(Gas, address) == 4);
inline constexpr std::uint8_t kGasSystemIo = 1;
inline constexpr std::uint8_t kGasAccessByte = 1;

// Fixed ACPI Description Table, revision 6 layout (§5.2.9, 276 bytes).
struct Fadt {
  SdtHeader header;             // "FACP"
  std::uint32_t firmware_ctrl;
  std::uint32_t dsdt;
  std::uint8_t reserved0;
  std::uint8_t preferred_pm_profile;
  std::uint16_t sci_int;
  std::uint32_t smi_cmd;
  std::uint8_t acpi_enable;
  std::uint8_t acpi_disable;
  std::uint8_t s4bios_req;
  std::uint8_t pstate_cnt;
  std::uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
  std::uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
  std::uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
  std::uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
  std::uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
  std::uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
  std::uint16_t iapc_boot_arch;
  std::uint8_t reserved1;
  std::uint32_t flags;
  Gas reset_reg;
  std::uint8_t reset_value;
  std::uint16_t arm_boot_arch;
  std::uint8_t minor_version;
  std::uint64_t x_firmware_ctrl;
  std::uint64_t x_dsdt;
  Gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
  Gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
  Gas sleep_control_reg;
  Gas sleep_status_reg;
  std::uint64_t hypervisor_vendor_id;
};
static_assert(sizeof(Fadt) == 276);
static_assert(offsetof(Fadt, dsdt) == 40);
static_assert(offsetof(Fadt, sci_int) == 46);
static_assert(offsetof(Fadt, pm1_evt_len) == 88);
static_assert(offsetof(Fadt, iapc_boot_arch) == 109);
static_assert(offsetof(Fadt, flags) == 112);
static_assert(offsetof(Fadt, reset_reg) == 116);
static_assert(offsetof(Fadt, minor_version) == 131);
static_assert(offsetof(Fadt, x_dsdt) == 140);
static_assert(offsetof(Fadt, x_pm1a_evt_blk) == 148);
static_assert(offsetof(Fadt, sleep_control_reg) == 244);
static_assert(offsetof(Fadt, sleep_status_reg) == 256);
static_assert(offsetof(Fadt, hypervisor_vendor_id) == 268);
inline constexpr std::uint32_t kFadtResetRegSupported = 1u << 10;
inline constexpr std::uint32_t kFadtHwReducedAcpi = 1u << 20;
inline constexpr std::uint16_t kBootArchNoVga = 1u << 2;
inline constexpr std::uint16_t kBootArchNoCmosRtc = 1u << 5;

// Multiple APIC Description Table header (§5.2.12), followed by interrupt controller entries.
struct MadtHeader {
  SdtHeader header;             // "APIC"
  std::uint32_t local_apic_address;
  std::uint32_t flags;          // bit 0 PCAT_COMPAT (dual 8259): clear, PVH has no legacy PIC
};
static_assert(sizeof(MadtHeader) == 44);

// Processor Local APIC entry (type 0, §5.2.12.2).
struct MadtLocalApic {
  std::uint8_t type;
  std::uint8_t length;
  std::uint8_t processor_uid;
  std::uint8_t apic_id;
  std::uint32_t flags;          // bit 0 enabled
};
static_assert(sizeof(MadtLocalApic) == 8);
inline constexpr std::uint8_t kMadtTypeLocalApic = 0;
inline constexpr std::uint32_t kMadtLapicEnabled = 1;

// I/O APIC entry (type 1, §5.2.12.3).
struct MadtIoApic {
  std::uint8_t type;
  std::uint8_t length;
  std::uint8_t ioapic_id;
  std::uint8_t reserved;
  std::uint32_t address;
  std::uint32_t gsi_base;
};
static_assert(sizeof(MadtIoApic) == 12);
inline constexpr std::uint8_t kMadtTypeIoApic = 1;

#pragma pack(pop)

}  // namespace kxen::boot::acpi
