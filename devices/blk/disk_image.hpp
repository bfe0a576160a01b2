// A host file or block device opened, locked and measured for one guest disk.
#pragma once

#include "blk/disk_options.hpp"
#include "kvm/fd.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <expected>
#include <string>

namespace kxen::blk {

// Owns the disk's fd and the flock on it (LOCK_EX, or LOCK_SH when readonly) for its lifetime,
// so a second kxen cannot write the same image. Move-only. Geometry is read once at open(), except
// the size: refresh_size() (one thread) may change it while queue threads read sectors().
class DiskImage final {
 public:
  // Raw files and block devices. Every error is one line naming the path and what to do.
  static std::expected<DiskImage, std::string> open(const DiskOptions& options);

  DiskImage(DiskImage&&) noexcept = default;
  DiskImage& operator=(DiskImage&&) noexcept = default;
  DiskImage(const DiskImage&) = delete;
  DiskImage& operator=(const DiskImage&) = delete;
  ~DiskImage() = default;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return options_.path; }
  const DiskOptions& options() const { return options_; }  // as given
  bool readonly() const { return options_.readonly; }
  bool is_block_device() const { return block_device_; }

  std::uint64_t size_bytes() const { return size_bytes_->load(std::memory_order_relaxed); }
  std::uint64_t sectors() const { return size_bytes() / kSectorSize; }  // 512-byte units
  std::uint32_t logical_sector_size() const { return logical_sector_size_; }
  std::uint32_t physical_sector_size() const { return physical_sector_size_; }

  // False when discard=off, the disk is readonly, or the host cannot discard (punch holes).
  bool discard_supported() const { return discard_granularity_ != 0; }
  std::uint32_t discard_granularity() const { return discard_granularity_; }  // bytes
  std::uint32_t discard_alignment() const { return discard_alignment_; }      // bytes

  // Re-reads the size (the image may have been resized on the host); true when it changed.
  std::expected<bool, std::string> refresh_size();

 private:
  DiskImage(DiskOptions options, Fd fd, bool block_device)
      : options_(std::move(options)),
        fd_(std::move(fd)),
        block_device_(block_device),
        size_bytes_(std::make_unique<std::atomic<std::uint64_t>>(0)) {}
  std::expected<void, std::string> measure_block_device();
  std::expected<void, std::string> measure_file();
  void probe_file_discard(std::uint32_t fs_block);
  void read_block_discard();

  DiskOptions options_;
  Fd fd_;
  bool block_device_ = false;
  std::unique_ptr<std::atomic<std::uint64_t>> size_bytes_;  // boxed: atomics cannot move, the image must
  std::uint32_t logical_sector_size_ = 512;
  std::uint32_t physical_sector_size_ = 512;
  std::uint32_t discard_granularity_ = 0;  // 0: no discard
  std::uint32_t discard_alignment_ = 0;
};

}  // namespace kxen::blk
