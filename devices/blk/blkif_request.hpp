// Decoding one blkif request (copied out of the ring) into a validated host struct.
//
// Requests are in the native x86_64 layout; blk_ring.hpp converts those of x86_32 frontends.
#pragma once

// Xen's public headers expect the C fixed-width types to be declared already.
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kxen::blk {

// Segments in one indirect page, and the most an indirect request can carry (8 pages).
inline constexpr std::size_t kBlkifPageSize = 4096;  // Xen page size, whatever the host's
inline constexpr std::uint32_t kSegmentsPerIndirectPage =
    static_cast<std::uint32_t>(kBlkifPageSize / sizeof(blkif_request_segment));
inline constexpr std::uint32_t kMaxIndirectSegments =
    kSegmentsPerIndirectPage * BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST;

// What this disk offers, as advertised in XenStore; requests outside it are refused.
struct BlkLimits {
  std::uint64_t disk_sectors = 0;           // 512-byte sectors
  bool readonly = false;
  bool discard = false;                     // feature-discard
  bool discard_secure = false;              // discard-secure; else the flag is ignored (blkif.h)
  bool flush = true;                        // feature-flush-cache
  bool barrier = true;                      // feature-barrier
  std::uint32_t max_indirect_segments = 0;  // feature-max-indirect-segments; 0: no indirect
};

// One data page of a request: sectors first_sect..last_sect (inclusive) of the granted page.
struct Segment {
  grant_ref_t gref = 0;
  std::uint8_t first_sect = 0;
  std::uint8_t last_sect = 0;

  std::uint32_t sectors() const { return std::uint32_t{last_sect} - first_sect + 1; }
  std::uint32_t offset_bytes() const { return std::uint32_t{first_sect} * 512; }
  std::uint32_t length_bytes() const { return sectors() * 512; }
};

// A validated request. `operation` is what the response must echo: for BLKIF_OP_INDIRECT it is
// the indirect_op (READ/WRITE), which blkfront checks. FLUSH_DISKCACHE and WRITE_BARRIER may
// carry segments: write them (after draining earlier writes, for a barrier), then flush.
struct BlkRequest {
  std::uint64_t id = 0;
  std::uint8_t operation = 0;     // BLKIF_OP_READ/WRITE/WRITE_BARRIER/FLUSH_DISKCACHE/DISCARD
  std::uint64_t sector = 0;       // first 512-byte sector; meaningless when nr_sectors == 0
  std::uint64_t nr_sectors = 0;   // sum over segments, or the discard length
  std::vector<Segment> segments;  // contiguous on disk from `sector`, in order
  bool secure_discard = false;
  bool indirect = false;          // came as BLKIF_OP_INDIRECT
};

// A refused request: answer it with make_response(id, operation, status) and log `reason`
// rate-limited. Only that request fails; the ring stays connected.
struct BlkDecodeError {
  std::uint64_t id = 0;
  std::uint8_t operation = 0;
  std::int16_t status = BLKIF_RSP_ERROR;  // BLKIF_RSP_ERROR or BLKIF_RSP_EOPNOTSUPP
  std::string reason;
};

// Copies the whole granted page `ref` into `out` (4096 bytes); returns a GNTST_* status.
using IndirectPageReader = std::function<std::int16_t(grant_ref_t ref, std::span<std::byte> out)>;

// Validates `req` against `limits`, reading indirect segment pages through `read_page`.
std::expected<BlkRequest, BlkDecodeError> decode_request(const blkif_request_t& req,
                                                         const BlkLimits& limits,
                                                         const IndirectPageReader& read_page);

// A response with zeroed padding (it is copied into guest memory whole).
blkif_response_t make_response(std::uint64_t id, std::uint8_t op, std::int16_t status);

}  // namespace kxen::blk
