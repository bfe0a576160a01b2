// What the user asked for one guest disk: `--disk PATH[,key=value...]` parsed and validated.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kxen::blk {

inline constexpr std::uint64_t kSectorSize = 512;  // blkif counts sectors in 512-byte units
inline constexpr unsigned kMaxQueues = 16;          // upper bound of queues=N

// Inclusive range of 512-byte sectors: `fail-sectors=100-107` covers sectors 100..107.
struct SectorRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;

  // True when the byte range [offset, offset + length) touches one of these sectors.
  bool overlaps(std::uint64_t offset, std::uint64_t length) const;
  friend bool operator==(const SectorRange&, const SectorRange&) = default;
};

struct DiskOptions {
  enum class Cache { writeback, none, unsafe };
  // How a queue issues I/O: io_uring, or sync (preadv/pwritev on the queue's own thread: lower
  // latency at queue depth 1 on tmpfs, where io_uring hands each request to a worker thread).
  enum class Aio { io_uring, sync };

  std::string path;
  std::string vdev;          // "xvda".."xvdzz"; empty: the caller assigns xvda, xvdb... in order
  bool readonly = false;
  Cache cache = Cache::writeback;  // none: O_DIRECT; unsafe: flushes complete without syncing
  bool discard = true;       // offer discard to the guest when the host supports it
  bool persistent = false;   // offer feature-persistent (blkfront then copies through its own pages)
  unsigned queues = 0;       // 0: the backend's default; else 1..kMaxQueues
  Aio aio = Aio::io_uring;
  // Test-only fault injection: any I/O touching one of these sectors completes with -EIO.
  std::vector<SectorRange> fail_sectors;
};

// Parses `PATH[,vdev=xvdX][,readonly][,discard=on|off][,persistent=on|off][,cache=writeback|none|unsafe]
// [,queues=N][,aio=io_uring|sync][,fail-sectors=START-END]...`. PATH cannot contain a comma. Errors are one line.
std::expected<DiskOptions, std::string> parse_disk_option(std::string_view spec);

// Xen's virtual-device number for "xvda".."xvdzz" (docs/misc/vbd-interface.txt): disks 0..15
// use (202 << 8) | (disk << 4), later disks (1 << 28) | (disk << 8). nullopt: not such a name.
std::optional<std::uint32_t> xen_vdev_number(std::string_view vdev);

// The name of disk `index` (0: "xvda", 25: "xvdz", 26: "xvdaa"); nullopt beyond "xvdzz".
std::optional<std::string> xvd_name(unsigned index);

std::string_view to_string(DiskOptions::Cache cache);
std::string_view to_string(DiskOptions::Aio aio);

}  // namespace kxen::blk
