#include "boot/kernel_cache.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "kvm/fd.hpp"

namespace kxen::boot {

namespace fs = std::filesystem;

namespace {

// Each entry: this header, then the vmlinux bytes; the length catches a short entry.
struct EntryHeader {
  char magic[8];
  std::uint64_t length;
};
static_assert(sizeof(EntryHeader) == 16);
constexpr char kEntryMagic[8] = {'K', 'X', 'E', 'N', 'V', 'M', 'L', '1'};
constexpr const char* kTmpPrefix = ".tmp-";
// A temporary file this old belongs to a kxen that was killed while writing it.
constexpr auto kStaleTmp = std::chrono::hours(1);

// read(2) or write(2) repeated until all `size` bytes moved; false on an error or an early end.
template <typename Byte, typename Io>
bool transfer_all(Io io, int fd, Byte* p, std::size_t size) {
  while (size > 0) {
    const ssize_t n = io(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, const void* data, std::size_t size) {
  return transfer_all(::write, fd, static_cast<const std::byte*>(data), size);
}

bool read_all(int fd, void* data, std::size_t size) {
  return transfer_all(::read, fd, static_cast<std::byte*>(data), size);
}

}  // namespace

std::optional<Sha256> sha256_of(std::span<const std::byte> bytes) {
  Sha256 digest{};
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != digest.size())
    return std::nullopt;
  return digest;
}

std::string hex(const Sha256& digest) {
  std::string out;
  out.reserve(digest.size() * 2);
  for (auto b : digest) out += fmt::format("{:02x}", b);
  return out;
}

KernelCache::KernelCache(fs::path dir, std::size_t keep) : dir_(std::move(dir)), keep_(keep) {}

std::optional<fs::path> KernelCache::default_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && xdg[0] == '/') return fs::path(xdg) / "kxen" / "kernels";
  if (const char* home = std::getenv("HOME"); home && home[0] == '/')
    return fs::path(home) / ".cache" / "kxen" / "kernels";
  return std::nullopt;
}

std::optional<std::string> KernelCache::create_dir() const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return fmt::format("{}: cannot create the kernel cache directory: {}", dir_.string(), ec.message());
  if (access(dir_.c_str(), W_OK | X_OK) != 0)
    return fmt::format("{}: kernel cache directory is not writable: {}", dir_.string(), std::strerror(errno));
  return std::nullopt;
}

fs::path KernelCache::entry_path(const Sha256& key) const { return dir_ / (hex(key) + ".vmlinux"); }

std::optional<std::vector<std::byte>> KernelCache::lookup(const Sha256& key, std::uint64_t max_bytes) const {
  const auto path = entry_path(key);
  const Fd file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) return std::nullopt;
  struct stat st {};
  // The entry becomes the guest's kernel: one that another user could have written is not used.
  if (fstat(file.get(), &st) != 0 || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    spdlog::debug("boot: kernel cache: {} is not ours alone; unpacking instead", path.string());
    return std::nullopt;
  }
  EntryHeader header{};
  if (!read_all(file.get(), &header, sizeof header) || std::memcmp(header.magic, kEntryMagic, 8) != 0 ||
      header.length > max_bytes ||
      static_cast<std::uint64_t>(st.st_size) != sizeof header + header.length) {
    spdlog::debug("boot: kernel cache: {} is damaged; unpacking again", path.string());
    return std::nullopt;
  }
  std::vector<std::byte> vmlinux(static_cast<std::size_t>(header.length));
  if (!read_all(file.get(), vmlinux.data(), vmlinux.size())) return std::nullopt;
  futimens(file.get(), nullptr);  // most recently used: prune() keeps it
  return vmlinux;
}

bool KernelCache::write_entry(int fd, std::span<const std::byte> vmlinux) const {
  EntryHeader header{};
  std::memcpy(header.magic, kEntryMagic, sizeof header.magic);
  header.length = vmlinux.size();
  // fsync before the rename: after a host crash the name never points at unwritten blocks.
  return write_all(fd, &header, sizeof header) && write_all(fd, vmlinux.data(), vmlinux.size()) && fsync(fd) == 0;
}

void KernelCache::store(const Sha256& key, std::span<const std::byte> vmlinux) const {
  std::string tmp = (dir_ / (std::string(kTmpPrefix) + "XXXXXX")).string();
  const Fd file(mkostemp(tmp.data(), O_CLOEXEC));
  if (!file.valid()) {
    spdlog::debug("boot: kernel cache: cannot write in {}: {}", dir_.string(), std::strerror(errno));
    return;
  }
  const auto path = entry_path(key);
  if (!write_entry(file.get(), vmlinux) || rename(tmp.c_str(), path.c_str()) != 0) {
    spdlog::debug("boot: kernel cache: cannot store {}: {}", path.string(), std::strerror(errno));
    unlink(tmp.c_str());
    return;
  }
  spdlog::debug("boot: kernel cache: stored {} ({} bytes)", path.string(), vmlinux.size());
  prune();
}

void KernelCache::forget(const Sha256& key) const { unlink(entry_path(key).c_str()); }

void KernelCache::prune() const {
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  const auto now = fs::file_time_type::clock::now();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::error_code stat_ec;
    const auto mtime = e.last_write_time(stat_ec);
    if (stat_ec || !e.is_regular_file(stat_ec)) continue;
    const auto name = e.path().filename().string();
    if (name.starts_with(kTmpPrefix) && now - mtime > kStaleTmp) fs::remove(e.path(), stat_ec);
    if (e.path().extension() == ".vmlinux") entries.emplace_back(mtime, e.path());
  }
  if (entries.size() <= keep_) return;
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = keep_; i < entries.size(); ++i) fs::remove(entries[i].second, ec);
}

}  // namespace kxen::boot
