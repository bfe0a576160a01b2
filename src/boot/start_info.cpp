#include "boot/start_info.hpp"

#include <fmt/format.h>

namespace kxen::boot {

namespace {

using Fail = std::unexpected<std::string>;

std::optional<std::string> check_params(const GuestMemory& mem, const StartInfoParams& p) {
  if (auto err = check_cmdline(p.cmdline)) return err;
  if (p.e820.size() > kMaxMemmapEntries)
    return fmt::format("memory map has {} entries; the boot-info area holds {}", p.e820.size(), kMaxMemmapEntries);
  if (!mem.is_ram(kBootInfoArea.start, kBootInfoArea.size()))
    return fmt::format("boot-info area {:#x}-{:#x} is not guest RAM", kBootInfoArea.start, kBootInfoArea.end);
  // ACPI 1.0's RSDP is 20 bytes; the host placed it, but a wrong address would only show in the guest.
  if (p.rsdp != 0 && !mem.is_ram(p.rsdp, 20)) return fmt::format("ACPI RSDP at {:#x} is not in guest RAM", p.rsdp);
  return std::nullopt;
}

bool write_memmap(GuestMemory& mem, const std::vector<E820Entry>& e820) {
  std::vector<hvm_memmap_table_entry> table;
  for (const auto& e : e820) table.push_back({e.addr, e.size, static_cast<std::uint32_t>(e.type), 0});
  return mem.write(kMemmapGpa, std::as_bytes(std::span(table)));
}

bool write_cmdline(GuestMemory& mem, std::string_view cmdline) {
  std::string with_nul(cmdline);
  with_nul.push_back('\0');
  return mem.write(kCmdlineGpa, std::as_bytes(std::span(with_nul)));
}

}  // namespace

std::optional<std::string> check_cmdline(std::string_view cmdline) {
  if (cmdline.size() > kMaxCmdlineBytes)
    return fmt::format("command line is {} bytes; the limit is {}", cmdline.size(), kMaxCmdlineBytes);
  if (cmdline.find('\0') != std::string_view::npos) return std::string("command line contains a NUL byte");
  return std::nullopt;
}

std::expected<Gpa, std::string> write_start_info(GuestMemory& mem, const StartInfoParams& p) {
  if (auto err = check_params(mem, p)) return Fail(*err);
  hvm_start_info si{};
  si.magic = XEN_HVM_START_MAGIC_VALUE;
  si.version = 1;
  si.cmdline_paddr = kCmdlineGpa;
  si.rsdp_paddr = p.rsdp;
  si.memmap_paddr = kMemmapGpa;
  si.memmap_entries = static_cast<std::uint32_t>(p.e820.size());
  if (p.initrd) {
    si.nr_modules = 1;
    si.modlist_paddr = kModlistGpa;
  }
  // Clear the area first so nothing stale from an earlier boot survives between the tables.
  const std::vector<std::byte> zeros(kBootInfoArea.size());
  bool ok = mem.write(kBootInfoArea.start, zeros);
  if (ok && p.initrd) ok = mem.write_obj(kModlistGpa, hvm_modlist_entry{p.initrd->start, p.initrd->size(), 0, 0});
  ok = ok && write_memmap(mem, p.e820) && write_cmdline(mem, p.cmdline) && mem.write_obj(kStartInfoGpa, si);
  if (!ok) return Fail("cannot write the boot-info area into guest memory");
  return kStartInfoGpa;
}

}  // namespace kxen::boot
