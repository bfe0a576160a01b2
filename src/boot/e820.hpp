// Guest-physical memory layout: RAM ranges to back, the e820 map the guest sees, special pages.
#pragma once

// The Xen header uses the C integer names unqualified.
#include <stdint.h>
#include <xen/arch-x86/hvm/start_info.h>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "kxen/guest_memory.hpp"

namespace kxen::boot {

// Layout (all fixed so later builders know where their data lives):
//   [0, 0xA0000)              RAM (Linux needs it for its real-mode trampoline)
//   [0xA0000, 0xE0000)        RESERVED (legacy VGA/option ROM hole, like real firmware)
//   [0xE0000, 0x100000)       ACPI: home of the ACPI tables; in the legacy RSDP scan window
//   [0x100000, special)       RAM
//   [special, low_end)        RESERVED: kSpecialPageCount special pages (console, xenstore...)
//   [low_end, 4 GiB)          hole for MMIO and overlay pages (low_end <= 3 GiB)
//   [4 GiB, ...)              RAM above the hole, if the guest has more than 3 GiB
inline constexpr Gpa kLowRamEnd = 0xA0000;
inline constexpr Gpa kAcpiBase = 0xE0000;
inline constexpr std::uint64_t kAcpiSize = 0x20000;
inline constexpr Gpa kHighMemory = 0x100000;
inline constexpr Gpa kLowMemoryCeiling = 0xC0000000;
inline constexpr Gpa kFourGiB = 0x100000000;
inline constexpr std::uint32_t kSpecialPageCount = 8;
// Below this the layout plus a kernel cannot fit; Linux itself wants far more.
inline constexpr std::uint64_t kMinGuestMemory = 32ull << 20;

enum class E820Type : std::uint32_t {
  ram = XEN_HVM_MEMMAP_TYPE_RAM,
  reserved = XEN_HVM_MEMMAP_TYPE_RESERVED,
  acpi = XEN_HVM_MEMMAP_TYPE_ACPI,
};

struct E820Entry {
  Gpa addr = 0;
  std::uint64_t size = 0;
  E820Type type = E820Type::ram;
  Gpa end() const { return addr + size; }
  bool operator==(const E820Entry&) const = default;
};

// Which special page; the value is the page's index inside the special-page block.
enum class SpecialPage : std::uint32_t { console = 0, xenstore = 1 };

// Pages the platform owns at the top of low RAM: backed by RAM, RESERVED in the e820.
struct SpecialPages {
  std::uint64_t base_pfn = 0;
  std::uint32_t count = 0;
  std::uint64_t pfn(SpecialPage which) const { return base_pfn + static_cast<std::uint32_t>(which); }
  std::uint64_t console_pfn() const { return pfn(SpecialPage::console); }
  std::uint64_t xenstore_pfn() const { return pfn(SpecialPage::xenstore); }
  Gpa base() const { return base_pfn << kPageShift; }
  Gpa end() const { return (base_pfn + count) << kPageShift; }
};

struct RamRange {
  Gpa gpa = 0;
  std::uint64_t size = 0;
  bool operator==(const RamRange&) const = default;
};

struct MemoryLayout {
  std::uint64_t mem_bytes = 0;
  std::vector<RamRange> ram;       // what to pass to GuestMemory::add_ram, in order
  std::vector<E820Entry> e820;     // what the guest sees, sorted, non-overlapping
  SpecialPages special;
  Gpa acpi_base = kAcpiBase;
  std::uint64_t acpi_size = kAcpiSize;
};

// Builds the layout for a guest of mem_bytes (page multiple, kMinGuestMemory..max_bytes).
std::expected<MemoryLayout, std::string> ram_layout(std::uint64_t mem_bytes, std::uint64_t max_bytes);

// True when [gpa, gpa+len) lies wholly inside one e820 entry of the given type.
bool e820_contains(const std::vector<E820Entry>& map, Gpa gpa, std::uint64_t len, E820Type type);

std::string_view e820_type_name(E820Type type);

}  // namespace kxen::boot
