// On-disk cache of unpacked bzImage payloads, keyed by the SHA-256 of the bzImage's bytes,
// so a kernel booted again skips its decompression (seconds for an xz payload under emulation).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace kxen::boot {

using Sha256 = std::array<std::uint8_t, 32>;
// nullopt only when libcrypto itself fails: the caller boots without the cache.
std::optional<Sha256> sha256_of(std::span<const std::byte> bytes);
std::string hex(const Sha256& digest);

// Entries kept: the newest used ones; enough for a CI matrix of kernels, bounded on disk.
inline constexpr std::size_t kKernelCacheEntries = 8;

// Best effort by design: a cache that cannot be read or written costs only the decompression,
// so lookup/store log at debug level and never fail a boot. Concurrent kxen processes are safe:
// entries appear by rename(2) after fsync, so a reader sees a whole entry or none.
class KernelCache final {
 public:
  explicit KernelCache(std::filesystem::path dir, std::size_t keep = kKernelCacheEntries);

  // $XDG_CACHE_HOME/kxen/kernels, else $HOME/.cache/kxen/kernels; nullopt when neither is set.
  static std::optional<std::filesystem::path> default_dir();

  // Creates the directory; the error says which path and why (for a directory the user named).
  std::optional<std::string> create_dir() const;

  // The unpacked vmlinux stored for `key`, checked against its recorded length; touches the entry.
  std::optional<std::vector<std::byte>> lookup(const Sha256& key, std::uint64_t max_bytes) const;
  void store(const Sha256& key, std::span<const std::byte> vmlinux) const;
  void forget(const Sha256& key) const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path entry_path(const Sha256& key) const;
  bool write_entry(int fd, std::span<const std::byte> vmlinux) const;
  void prune() const;

  std::filesystem::path dir_;
  std::size_t keep_;
};

}  // namespace kxen::boot
