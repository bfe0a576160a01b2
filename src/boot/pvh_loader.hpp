// Places a PVH kernel's segments and the initrd in guest RAM, relocating when the kernel allows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "boot/e820.hpp"
#include "boot/elf_image.hpp"
#include "boot/start_info.hpp"
#include "kxen/guest_memory.hpp"

namespace kxen::boot {

struct KernelPlacement {
  Gpa entry = 0;            // PHYS32_ENTRY, shifted with the image
  GpaRange range;           // lowest paddr .. end of the highest segment, after the shift
  std::int64_t shift = 0;   // load address minus link address
  bool relocated() const { return shift != 0; }
};

// RAM the loader may fill: the e820 RAM entries minus the boot-info area, sorted.
std::vector<GpaRange> loadable_ram(const MemoryLayout& layout);

// Decides where the kernel goes: its link address if every segment lies in loadable RAM,
// otherwise (only with XEN_ELFNOTE_PHYS32_RELOC) the lowest address in [min, max] honouring
// the note's alignment. Segments overlapping each other or an entry outside them are errors.
std::expected<KernelPlacement, std::string> place_kernel(const ElfImage& elf, const MemoryLayout& layout);

// place_kernel, then copies filesz bytes of every segment and zeroes the rest of its memsz.
std::expected<KernelPlacement, std::string> load_kernel(GuestMemory& mem, const ElfImage& elf,
                                                        const MemoryLayout& layout);

// Highest page-aligned spot below 4 GiB, above kernel_end, in loadable RAM.
std::expected<GpaRange, std::string> place_initrd(std::uint64_t size, const MemoryLayout& layout,
                                                  const GpaRange& kernel);

std::expected<GpaRange, std::string> load_initrd(GuestMemory& mem, std::span<const std::byte> initrd,
                                                 const MemoryLayout& layout, const GpaRange& kernel);

}  // namespace kxen::boot
