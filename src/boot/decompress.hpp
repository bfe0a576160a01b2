// Decompression of Linux kernel payloads (gzip, xz, zstd) with a hard bound on the output size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kxen::boot {

enum class Compression { unknown, gzip, xz, zstd, lzma, lz4, bzip2, lzo };

// Recognises every compressor Linux offers for bzImage payloads, by magic bytes.
Compression detect_compression(std::span<const std::byte> data);
std::string_view compression_name(Compression c);

// Default bound: a kernel is far below 1 GiB, so more output means a bomb or garbage.
inline constexpr std::uint64_t kMaxDecompressed = 1ull << 30;

struct Decompressed {
  Compression kind = Compression::unknown;
  std::vector<std::byte> data;
  std::size_t consumed = 0;  // input bytes of the (first) stream; the rest is trailing data
};

// Decodes the first gzip/xz/zstd stream in `in`; bytes after it are left for the caller.
// More than `limit` output bytes, a truncated or corrupt stream, or an unsupported format
// (lzma, lz4, bzip2, lzo) give an error text naming the format.
std::expected<Decompressed, std::string> decompress(std::span<const std::byte> in,
                                                   std::uint64_t limit = kMaxDecompressed);

}  // namespace kxen::boot
