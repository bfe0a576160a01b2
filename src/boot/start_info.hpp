// hvm_start_info (version 1) and the data it points to, written into the boot-info area.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boot/e820.hpp"
#include "kxen/guest_memory.hpp"

namespace kxen::boot {

// Guest-physical [start, end).
struct GpaRange {
  Gpa start = 0;
  Gpa end = 0;
  std::uint64_t size() const { return end - start; }
  bool overlaps(const GpaRange& o) const { return start < o.end && o.start < end; }
  bool operator==(const GpaRange&) const = default;
};

// Boot-info area [0x6000, 0x9000): ordinary e820 RAM below 1 GiB, where Linux's early page
// tables reach it. Linux copies start_info at entry (head.S), reads memmap/modlist in
// init_pvh_bootparams and copies the command line in copy_bootdata, all before its memory
// allocator runs, so the kernel may reuse this RAM afterwards. 6.12 briefly uses the first
// dword of start_info as a scratch stack, hence RAM rather than a reserved range.
inline constexpr Gpa kStartInfoGpa = 0x6000;
inline constexpr Gpa kModlistGpa = 0x6040;
inline constexpr Gpa kMemmapGpa = 0x7000;
inline constexpr Gpa kCmdlineGpa = 0x8000;
inline constexpr GpaRange kBootInfoArea{0x6000, 0x9000};

// Linux x86 COMMAND_LINE_SIZE is 2048 bytes including the NUL.
inline constexpr std::size_t kMaxCmdlineBytes = 2047;
inline constexpr std::size_t kMaxMemmapEntries = (kCmdlineGpa - kMemmapGpa) / sizeof(hvm_memmap_table_entry);

static_assert(sizeof(hvm_start_info) == 56 && offsetof(hvm_start_info, memmap_paddr) == 40);
static_assert(sizeof(hvm_modlist_entry) == 32);
static_assert(sizeof(hvm_memmap_table_entry) == 24 && offsetof(hvm_memmap_table_entry, type) == 16);
static_assert(kModlistGpa >= kStartInfoGpa + sizeof(hvm_start_info));
static_assert(kMemmapGpa >= kModlistGpa + sizeof(hvm_modlist_entry));

struct StartInfoParams {
  std::string_view cmdline;
  Gpa rsdp = 0;                       // 0: no ACPI tables
  std::optional<GpaRange> initrd;     // becomes module 0, with no module command line
  std::vector<E820Entry> e820;
};

// "command line is N bytes; the limit is 2047" when too long; embedded NULs are refused too.
std::optional<std::string> check_cmdline(std::string_view cmdline);

// Writes start_info, modlist, memmap and cmdline into the boot-info area; returns the
// start_info GPA for EBX. The area must be guest RAM.
std::expected<Gpa, std::string> write_start_info(GuestMemory& mem, const StartInfoParams& params);

}  // namespace kxen::boot
