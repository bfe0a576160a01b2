// Kernel and initrd files on the host: reading with clear errors, classifying kernel formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "boot/elf_image.hpp"

namespace kxen::boot {

// Larger kernel or initrd files are refused before reading them into memory.
inline constexpr std::uint64_t kMaxKernelFile = 1ull << 30;
inline constexpr std::uint64_t kMaxInitrdFile = 3ull << 30;

// Reads a whole regular file. Errors start with "<path>: " and say what to do
// (no such file, permission denied, a directory, too large...).
std::expected<std::vector<std::byte>, std::string> read_host_file(const std::string& path,
                                                                  std::uint64_t max_bytes);

enum class KernelFormat { elf, bzimage, unknown };
KernelFormat classify_kernel(std::span<const std::byte> bytes);

class KernelCache;

// Reads `path`, unpacks a bzImage's vmlinux if needed (through `cache` when given) and parses
// the ELF for PVH boot. Errors are prefixed with the path, e.g. "<path>: neither an ELF nor a
// Linux bzImage".
std::expected<ElfImage, std::string> load_kernel_file(const std::string& path, const KernelCache* cache = nullptr);

}  // namespace kxen::boot
