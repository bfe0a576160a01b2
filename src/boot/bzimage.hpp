// Linux bzImage: the x86 boot-protocol header and the compressed vmlinux ELF it carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "boot/decompress.hpp"

namespace kxen::boot {

// Where the pieces of a bzImage lie (Documentation/arch/x86/boot.rst).
struct BzImageHeader {
  std::uint16_t protocol = 0;       // boot protocol version, e.g. 0x020f
  std::uint32_t setup_sects = 0;    // 0 in the header means 4
  std::uint64_t pm_offset = 0;      // file offset of the protected-mode code
  std::uint64_t payload_offset = 0; // file offset of the compressed payload
  std::uint64_t payload_length = 0;
};

// True if the bytes carry the boot sector signature and the "HdrS" setup header magic.
bool is_bzimage(std::span<const std::byte> image);

// Validates the header (protocol >= 2.08 for payload fields, payload inside the file).
std::expected<BzImageHeader, std::string> parse_bzimage(std::span<const std::byte> image);

// Decompresses the payload (bounded by `limit`) and checks that it is an ELF: the vmlinux bytes.
// Linux appends the uncompressed size as 4 bytes after xz/zstd/lzma payloads; when present it
// must match what was decoded.
std::expected<std::vector<std::byte>, std::string> extract_vmlinux(std::span<const std::byte> image,
                                                                   std::uint64_t limit = kMaxDecompressed);

}  // namespace kxen::boot
