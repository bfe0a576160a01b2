#include "blk/disk_image.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kxen::blk {
namespace {

constexpr std::uint32_t kMaxSectorSize = 4096;  // the largest sector size blkfront is given

bool power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// A host block size turned into a sector size the guest can use: a power of two in 512..4096.
std::uint32_t sane_block(std::uint64_t v) {
  if (!power_of_two(v) || v < kSectorSize) return static_cast<std::uint32_t>(kSectorSize);
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, kMaxSectorSize));
}

bool readable(const std::string& path) {
  const Fd probe(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  return probe.valid();
}

bool opens_without_direct(const std::string& path, int flags) {
  const Fd probe(::open(path.c_str(), (flags & ~O_DIRECT) | O_CLOEXEC));
  return probe.valid();
}

// Turns the errno cases users actually hit into one actionable line.
std::string describe_open_error(const DiskOptions& o, int flags, int err) {
  const std::string& p = o.path;
  switch (err) {
    case ENOENT: return fmt::format("disk {}: no such file", p);
    case EISDIR: return fmt::format("disk {} is a directory", p);
    case EBUSY:
      return fmt::format("disk {} is in use by the kernel (mounted or claimed): unmount it first", p);
    case EINVAL:
      if ((flags & O_DIRECT) && opens_without_direct(p, flags))
        return fmt::format("disk {}: the file system refuses O_DIRECT (cache=none): "
                           "use cache=writeback", p);
      break;
    case EACCES:
    case EROFS:
    case EPERM:  // root gets EPERM, not EACCES, for an immutable (chattr +i) file
      if (!o.readonly && readable(p)) return fmt::format("disk {} is read-only: add ,readonly", p);
      return fmt::format("disk {}: permission denied", p);
    default: break;
  }
  return fmt::format("disk {}: {}", p, std::strerror(err));
}

std::expected<Fd, std::string> open_fd(const DiskOptions& o, bool block_device) {
  int flags = O_CLOEXEC | (o.readonly ? O_RDONLY : O_RDWR);
  if (o.cache == DiskOptions::Cache::none) flags |= O_DIRECT;
  if (block_device && !o.readonly) flags |= O_EXCL;  // the kernel refuses it while mounted
  Fd fd(::open(o.path.c_str(), flags));
  if (!fd.valid()) return std::unexpected(describe_open_error(o, flags, errno));
  return fd;
}

// stat() before open(): opening a FIFO would block and a directory gives a vaguer error.
std::expected<bool, std::string> check_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::unexpected(fmt::format("disk {}: no such file", path));
    if (errno == EACCES) return std::unexpected(fmt::format("disk {}: permission denied", path));
    return std::unexpected(fmt::format("disk {}: {}", path, std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) return std::unexpected(fmt::format("disk {} is a directory", path));
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    return std::unexpected(fmt::format("disk {} is not a regular file or a block device", path));
  return S_ISBLK(st.st_mode);
}

std::expected<void, std::string> lock(int fd, const DiskOptions& o) {
  if (::flock(fd, (o.readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0) return {};
  if (errno == EWOULDBLOCK)
    return std::unexpected(fmt::format("disk {} is in use by another process (flock)", o.path));
  return std::unexpected(fmt::format("disk {}: flock: {}", o.path, std::strerror(errno)));
}

std::optional<std::uint64_t> read_sysfs_number(const std::string& file) {
  std::ifstream in(file);
  std::uint64_t value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

// O_DIRECT alignment the file system demands (statx STATX_DIOALIGN, Linux 6.1); 0: unknown.
std::uint32_t direct_io_alignment(int fd) {
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0) return 0;
  if (!(stx.stx_mask & STATX_DIOALIGN)) return 0;
  return std::max(stx.stx_dio_offset_align, stx.stx_dio_mem_align);
}

}  // namespace

std::expected<DiskImage, std::string> DiskImage::open(const DiskOptions& options) {
  const auto block = check_kind(options.path);
  if (!block) return std::unexpected(block.error());
  auto fd = open_fd(options, *block);
  if (!fd) return std::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || S_ISBLK(st.st_mode) != *block)
    return std::unexpected(fmt::format("disk {} changed while being opened", options.path));
  if (auto locked = lock(fd->get(), options); !locked) return std::unexpected(locked.error());

  DiskImage image(options, std::move(*fd), *block);
  auto measured = *block ? image.measure_block_device() : image.measure_file();
  if (!measured) return std::unexpected(measured.error());
  if (image.size_bytes() < kSectorSize)
    return std::unexpected(fmt::format("disk {} is empty (smaller than one 512-byte sector)",
                                       options.path));
  if (image.size_bytes() % kSectorSize != 0)
    spdlog::warn("blk {}: the last {} bytes are not a whole sector; the guest cannot see them",
                 options.path, image.size_bytes() % kSectorSize);
  if (options.cache == DiskOptions::Cache::unsafe)
    spdlog::warn("blk {}: cache=unsafe: guest flushes are ignored, a host crash loses data",
                 options.path);
  spdlog::debug("blk {}: {} sectors, sector size {}/{}, discard {}, cache={}, aio={}{}", options.path,
                image.sectors(), image.logical_sector_size_, image.physical_sector_size_,
                image.discard_granularity_, to_string(options.cache), to_string(options.aio),
                options.readonly ? ", readonly" : "");
  return image;
}

std::expected<void, std::string> DiskImage::measure_block_device() {
  std::uint64_t bytes = 0;
  int logical = 0;
  unsigned int physical = 0;
  if (::ioctl(fd(), BLKGETSIZE64, &bytes) != 0 || ::ioctl(fd(), BLKSSZGET, &logical) != 0 ||
      ::ioctl(fd(), BLKPBSZGET, &physical) != 0)
    return std::unexpected(fmt::format("disk {}: cannot read the block device's geometry: {}",
                                       path(), std::strerror(errno)));
  if (!power_of_two(static_cast<std::uint64_t>(logical)) || logical < 512 || logical > 4096)
    return std::unexpected(fmt::format("disk {}: unsupported logical sector size {}", path(), logical));
  size_bytes_->store(bytes);
  logical_sector_size_ = static_cast<std::uint32_t>(logical);
  physical_sector_size_ = std::max(logical_sector_size_, sane_block(physical));
  read_block_discard();
  return {};
}

std::expected<void, std::string> DiskImage::measure_file() {
  struct stat st {};
  if (::fstat(fd(), &st) != 0)
    return std::unexpected(fmt::format("disk {}: fstat: {}", path(), std::strerror(errno)));
  size_bytes_->store(static_cast<std::uint64_t>(st.st_size));
  if (options_.cache == DiskOptions::Cache::none) {
    // O_DIRECT I/O must be aligned as the file system says; the guest aligns to the sector size.
    const std::uint32_t align = direct_io_alignment(fd());
    if (align > kMaxSectorSize)
      return std::unexpected(fmt::format("disk {}: O_DIRECT here needs {}-byte alignment (more "
                                         "than 4096): use cache=writeback", path(), align));
    logical_sector_size_ = std::max(logical_sector_size_, sane_block(align));
  }
  physical_sector_size_ = std::max(logical_sector_size_, sane_block(static_cast<std::uint64_t>(st.st_blksize)));
  struct statfs fs {};
  const std::uint64_t fs_block = ::fstatfs(fd(), &fs) == 0 ? static_cast<std::uint64_t>(fs.f_bsize)
                                                           : static_cast<std::uint64_t>(st.st_blksize);
  probe_file_discard(sane_block(fs_block));
  return {};
}

// Punching a hole past EOF changes nothing but tells whether the file system can punch at all.
void DiskImage::probe_file_discard(std::uint32_t fs_block) {
  if (!options_.discard || options_.readonly) return;
  const auto end = static_cast<off_t>(size_bytes());
  if (::fallocate(fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, end, fs_block) != 0) {
    spdlog::info("blk {}: no discard: the file system cannot punch holes ({})", path(),
                 std::strerror(errno));
    return;
  }
  discard_granularity_ = fs_block;
  discard_alignment_ = 0;
}

// A partition has no queue/ directory of its own: its disk's is one level up.
void DiskImage::read_block_discard() {
  if (!options_.discard || options_.readonly) return;
  struct stat st {};
  if (::fstat(fd(), &st) != 0) return;
  const std::string dev = fmt::format("/sys/dev/block/{}:{}/", major(st.st_rdev), minor(st.st_rdev));
  auto queue = [&](const char* name) {
    auto v = read_sysfs_number(dev + "queue/" + name);
    return v ? v : read_sysfs_number(dev + "../queue/" + name);
  };
  const auto granularity = queue("discard_granularity");
  const auto max_bytes = queue("discard_max_bytes");
  if (!granularity || !max_bytes || *granularity == 0 || *max_bytes == 0 ||
      *granularity > UINT32_MAX) {
    spdlog::info("blk {}: no discard: the device does not support it", path());
    return;
  }
  discard_granularity_ = static_cast<std::uint32_t>(*granularity);
  const auto alignment = read_sysfs_number(dev + "discard_alignment").value_or(0);
  discard_alignment_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(alignment, UINT32_MAX));
}

std::expected<bool, std::string> DiskImage::refresh_size() {
  std::uint64_t bytes = 0;
  if (block_device_) {
    if (::ioctl(fd(), BLKGETSIZE64, &bytes) != 0)
      return std::unexpected(fmt::format("disk {}: BLKGETSIZE64: {}", path(), std::strerror(errno)));
  } else {
    struct stat st {};
    if (::fstat(fd(), &st) != 0)
      return std::unexpected(fmt::format("disk {}: fstat: {}", path(), std::strerror(errno)));
    bytes = static_cast<std::uint64_t>(st.st_size);
  }
  const std::uint64_t before = size_bytes_->exchange(bytes);
  if (before == bytes) return false;
  spdlog::info("blk {}: size changed from {} to {} bytes", path(), before, bytes);
  return true;
}

}  // namespace kxen::blk
