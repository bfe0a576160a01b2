// Decoding of ELF note areas: picks out the notes named "Xen" into XenNotes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "boot/elf_image.hpp"

namespace kxen::boot {

// Parses one note area (a PT_NOTE segment or an SHT_NOTE section) whose entries are padded to
// `align` (4, or 8 for 8-aligned areas). Returns how many "Xen" notes it held, or why the area
// is malformed (a note overrunning the area, a bad value size).
std::expected<std::size_t, std::string> parse_xen_notes(std::span<const std::byte> area,
                                                        std::uint64_t align, XenNotes& out);

}  // namespace kxen::boot
