#include "boot/kernel_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "boot/bzimage.hpp"
#include "boot/kernel_cache.hpp"
#include "kvm/fd.hpp"

namespace kxen::boot {

namespace {

using Fail = std::unexpected<std::string>;

std::string open_error(const std::string& path, int err) {
  switch (err) {
    case ENOENT: return fmt::format("{}: no such file (check the path)", path);
    case EACCES:
    case EPERM: return fmt::format("{}: permission denied (make it readable by the user running kxen)", path);
    case ENOTDIR: return fmt::format("{}: a component of the path is not a directory", path);
    case ELOOP: return fmt::format("{}: too many levels of symbolic links", path);
    default: return fmt::format("{}: cannot open: {}", path, std::strerror(err));
  }
}

std::optional<std::string> check_stat(const std::string& path, const struct stat& st, std::uint64_t max_bytes) {
  if (S_ISDIR(st.st_mode)) return fmt::format("{}: is a directory, not a file", path);
  if (!S_ISREG(st.st_mode)) return fmt::format("{}: not a regular file", path);
  if (st.st_size == 0) return fmt::format("{}: empty file", path);
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    return fmt::format("{}: {} MiB is larger than the {} MiB this file may have", path, st.st_size >> 20,
                       max_bytes >> 20);
  return std::nullopt;
}

std::expected<ElfImage, std::string> with_path(const std::string& path, std::expected<ElfImage, std::string> r) {
  if (!r) return Fail(fmt::format("{}: {}", path, r.error()));
  return r;
}

std::expected<ElfImage, std::string> unpack_bzimage(const std::string& path, std::span<const std::byte> bytes,
                                                    const KernelCache* cache) {
  const std::optional<Sha256> key = cache ? sha256_of(bytes) : std::nullopt;
  if (cache && !key) spdlog::debug("boot: {}: no SHA-256 from libcrypto; not using the kernel cache", path);
  if (key) {
    if (auto cached = cache->lookup(*key, kMaxDecompressed)) {
      spdlog::debug("boot: {}: vmlinux ({} bytes) from the kernel cache", path, cached->size());
      if (auto image = parse_elf(std::move(*cached))) return image;
      cache->forget(*key);  // an entry that is no ELF is damaged: unpack and store it again
    }
  }
  auto vmlinux = extract_vmlinux(bytes);
  if (!vmlinux) return Fail(vmlinux.error());
  spdlog::debug("boot: {}: bzImage, vmlinux is {} bytes", path, vmlinux->size());
  if (key) cache->store(*key, *vmlinux);
  return parse_elf(std::move(*vmlinux));
}

}  // namespace

std::expected<std::vector<std::byte>, std::string> read_host_file(const std::string& path, std::uint64_t max_bytes) {
  const Fd file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) return Fail(open_error(path, errno));
  struct stat st {};
  if (fstat(file.get(), &st) != 0) return Fail(fmt::format("{}: cannot stat: {}", path, std::strerror(errno)));
  if (auto err = check_stat(path, st, max_bytes)) return Fail(*err);
  std::vector<std::byte> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  // Bounded by the file size: each successful read makes progress, EOF ends the loop.
  while (done < bytes.size()) {
    const ssize_t n = read(file.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(fmt::format("{}: read error: {}", path, std::strerror(errno)));
    if (n == 0) return Fail(fmt::format("{}: file shrank while being read", path));
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

KernelFormat classify_kernel(std::span<const std::byte> bytes) {
  if (is_elf(bytes)) return KernelFormat::elf;
  if (is_bzimage(bytes)) return KernelFormat::bzimage;
  return KernelFormat::unknown;
}

std::expected<ElfImage, std::string> load_kernel_file(const std::string& path, const KernelCache* cache) {
  auto bytes = read_host_file(path, kMaxKernelFile);
  if (!bytes) return Fail(bytes.error());
  switch (classify_kernel(*bytes)) {
    case KernelFormat::elf:
      spdlog::debug("boot: {}: ELF kernel, {} bytes", path, bytes->size());
      return with_path(path, parse_elf(std::move(*bytes)));
    case KernelFormat::bzimage: return with_path(path, unpack_bzimage(path, *bytes, cache));
    case KernelFormat::unknown: break;
  }
  return Fail(fmt::format("{}: neither an ELF nor a Linux bzImage", path));
}

}  // namespace kxen::boot
