// The one entry point of the PVH loader: kernel file + initrd + cmdline → guest memory, start_info.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "boot/e820.hpp"
#include "boot/elf_image.hpp"
#include "boot/start_info.hpp"
#include "kxen/guest_memory.hpp"

namespace kxen::boot {

struct BootConfig {
  std::string kernel_path;                 // vmlinux ELF or bzImage (gzip/xz/zstd payload)
  std::optional<std::string> initrd_path;
  std::string cmdline;
  Gpa rsdp_gpa = 0;                        // 0 = no ACPI tables
  MemoryLayout layout;                     // from ram_layout(); its `ram` already added to GuestMemory
};

// What the vCPU set-up needs: EIP = entry, EBX = start_info, flat 32-bit protected mode.
struct BootImage {
  Gpa entry = 0;
  Gpa start_info = 0;
  GpaRange kernel;
  std::optional<GpaRange> initrd;
  std::vector<E820Entry> e820;
  SpecialPages special;
  bool elf_class32 = false;   // the kernel ELF is ELFCLASS32 (the entry is 32-bit either way)
  bool relocated = false;     // loaded away from its link address via PHYS32_RELOC
  XenNotes notes;             // GUEST_OS, HYPERCALL_PAGE... for logging and transport choice
};

// Reads, unpacks and parses the kernel, loads it and the initrd, writes hvm_start_info.
// Every failure is one line of text meant for the user (path, sizes, what to do).
std::expected<BootImage, std::string> load_pvh_guest(GuestMemory& mem, const BootConfig& config);

// The same from bytes already in memory (tests, or a caller that fetched the kernel itself).
std::expected<BootImage, std::string> load_pvh_image(GuestMemory& mem, const ElfImage& kernel,
                                                     std::optional<std::span<const std::byte>> initrd,
                                                     const BootConfig& config);

}  // namespace kxen::boot
