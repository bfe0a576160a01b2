#include "boot/e820.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <optional>

namespace kxen::boot {

namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

std::optional<std::string> check_size(std::uint64_t mem_bytes, std::uint64_t max_bytes) {
  if (mem_bytes % kPageSize != 0)
    return fmt::format("guest memory {} bytes is not a multiple of 4 KiB", mem_bytes);
  if (mem_bytes < kMinGuestMemory)
    return fmt::format("guest memory {} MiB is too small; the minimum is {} MiB", mem_bytes / kMiB,
                       kMinGuestMemory / kMiB);
  if (mem_bytes > max_bytes)
    return fmt::format("guest memory {} MiB exceeds this host's limit of {} MiB", mem_bytes / kMiB,
                       max_bytes / kMiB);
  return std::nullopt;
}

// The guest-visible map of low memory [0, low_end): legacy holes, ACPI, RAM, special pages.
std::vector<E820Entry> low_map(Gpa low_end, const SpecialPages& special) {
  return {
      {0, kLowRamEnd, E820Type::ram},
      {kLowRamEnd, kAcpiBase - kLowRamEnd, E820Type::reserved},
      {kAcpiBase, kAcpiSize, E820Type::acpi},
      {kHighMemory, special.base() - kHighMemory, E820Type::ram},
      {special.base(), low_end - special.base(), E820Type::reserved},
  };
}

}  // namespace

std::expected<MemoryLayout, std::string> ram_layout(std::uint64_t mem_bytes, std::uint64_t max_bytes) {
  if (auto err = check_size(mem_bytes, max_bytes)) return std::unexpected(*err);
  static_assert(kAcpiBase + kAcpiSize == kHighMemory, "the ACPI area closes the legacy hole");
  MemoryLayout layout;
  layout.mem_bytes = mem_bytes;
  const Gpa low_end = std::min<Gpa>(mem_bytes, kLowMemoryCeiling);
  layout.special = SpecialPages{(low_end >> kPageShift) - kSpecialPageCount, kSpecialPageCount};
  // One backing region for all of low memory: the holes below 1 MiB are backed, only hidden.
  layout.ram.push_back({0, low_end});
  layout.e820 = low_map(low_end, layout.special);
  if (mem_bytes > low_end) {
    const std::uint64_t high = mem_bytes - low_end;
    layout.ram.push_back({kFourGiB, high});
    layout.e820.push_back({kFourGiB, high, E820Type::ram});
  }
  return layout;
}

bool e820_contains(const std::vector<E820Entry>& map, Gpa gpa, std::uint64_t len, E820Type type) {
  if (len == 0 || gpa + len < gpa) return false;
  for (const auto& e : map)
    if (e.type == type && gpa >= e.addr && gpa + len <= e.end()) return true;
  return false;
}

std::string_view e820_type_name(E820Type type) {
  switch (type) {
    case E820Type::ram: return "RAM";
    case E820Type::reserved: return "RESERVED";
    case E820Type::acpi: return "ACPI";
  }
  return "?";
}

}  // namespace kxen::boot
