#include "blk/blkif_request.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

namespace kxen::blk {
namespace {

// The x86_64 ABI this file decodes (xen/io/blkif.h); the variants are read by memcpy from the
// copied request, never by casting, so they must fit inside it.
static_assert(sizeof(blkif_request_segment) == 8);
static_assert(sizeof(blkif_request_t) == 112);
static_assert(offsetof(blkif_request_t, id) == 8);
static_assert(offsetof(blkif_request_t, sector_number) == 16);
static_assert(offsetof(blkif_request_t, seg) == 24);
static_assert(sizeof(blkif_request_discard_t) <= sizeof(blkif_request_t));
static_assert(offsetof(blkif_request_discard_t, id) == 8);
static_assert(offsetof(blkif_request_discard_t, nr_sectors) == 24);
static_assert(sizeof(blkif_request_indirect_t) <= sizeof(blkif_request_t));
static_assert(offsetof(blkif_request_indirect_t, nr_segments) == 2);
static_assert(offsetof(blkif_request_indirect_t, id) == 8);
static_assert(offsetof(blkif_request_indirect_t, indirect_grefs) == 28);
static_assert(sizeof(blkif_response_t) == 16);
static_assert(kSegmentsPerIndirectPage == 512 && kMaxIndirectSegments == 4096);

constexpr std::uint8_t kLastSectorInPage = kBlkifPageSize / 512 - 1;

using Result = std::expected<BlkRequest, BlkDecodeError>;

std::unexpected<BlkDecodeError> fail(std::uint64_t id, std::uint8_t op, std::int16_t status,
                                     std::string reason) {
  return std::unexpected(BlkDecodeError{id, op, status, std::move(reason)});
}

BlkRequest start(std::uint64_t id, std::uint8_t op, std::uint64_t sector) {
  BlkRequest out;
  out.id = id;
  out.operation = op;
  out.sector = sector;
  return out;
}

// Overflow-safe: is [sector, sector + count) inside the disk?
bool in_disk(std::uint64_t sector, std::uint64_t count, std::uint64_t disk_sectors) {
  return count <= disk_sectors && sector <= disk_sectors - count;
}

// Appends one segment after checking its sector range within the page; false if it is bad.
bool add_segment(BlkRequest& out, const blkif_request_segment& seg) {
  if (seg.first_sect > seg.last_sect || seg.last_sect > kLastSectorInPage) return false;
  out.segments.push_back(Segment{seg.gref, seg.first_sect, seg.last_sect});
  out.nr_sectors += out.segments.back().sectors();
  return true;
}

// The last check of every data request: the summed segments must lie inside the disk.
Result check_range(BlkRequest out, const BlkLimits& limits) {
  if (out.nr_sectors != 0 && !in_disk(out.sector, out.nr_sectors, limits.disk_sectors)) {
    return fail(out.id, out.operation, BLKIF_RSP_ERROR,
                fmt::format("sectors {}+{} past the end of the disk ({})", out.sector,
                            out.nr_sectors, limits.disk_sectors));
  }
  return out;
}

// READ, WRITE, and FLUSH_DISKCACHE/WRITE_BARRIER (which may carry data, or none).
Result decode_direct(const blkif_request_t& req, const BlkLimits& limits) {
  const std::uint8_t op = req.operation;
  const bool flushing = op == BLKIF_OP_FLUSH_DISKCACHE || op == BLKIF_OP_WRITE_BARRIER;
  if ((op == BLKIF_OP_FLUSH_DISKCACHE && !limits.flush) ||
      (op == BLKIF_OP_WRITE_BARRIER && !limits.barrier)) {
    return fail(req.id, op, BLKIF_RSP_EOPNOTSUPP, fmt::format("operation {} not offered", op));
  }
  const unsigned nseg = req.nr_segments;
  if (nseg == 0 && !flushing) return fail(req.id, op, BLKIF_RSP_ERROR, "no segments");
  if (nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
    return fail(req.id, op, BLKIF_RSP_ERROR, fmt::format("{} segments in a direct request", nseg));
  }
  // A flush without data changes nothing, so a read-only disk may still accept it.
  const bool writes = op != BLKIF_OP_READ && (op != BLKIF_OP_FLUSH_DISKCACHE || nseg != 0);
  if (writes && limits.readonly) {
    return fail(req.id, op, BLKIF_RSP_ERROR, "write to a read-only disk");
  }
  BlkRequest out = start(req.id, op, req.sector_number);
  out.segments.reserve(nseg);
  for (unsigned i = 0; i < nseg; ++i) {
    const blkif_request_segment seg = req.seg[i];
    if (!add_segment(out, seg)) {
      return fail(req.id, op, BLKIF_RSP_ERROR,
                  fmt::format("segment {}: sectors {}..{}", i, seg.first_sect, seg.last_sect));
    }
  }
  return check_range(std::move(out), limits);
}

Result decode_discard(const blkif_request_t& req, const BlkLimits& limits) {
  blkif_request_discard_t d;
  std::memcpy(&d, &req, sizeof(d));
  if (!limits.discard) return fail(d.id, BLKIF_OP_DISCARD, BLKIF_RSP_EOPNOTSUPP, "discard not offered");
  if (limits.readonly) return fail(d.id, BLKIF_OP_DISCARD, BLKIF_RSP_ERROR, "discard on a read-only disk");
  if (!in_disk(d.sector_number, d.nr_sectors, limits.disk_sectors)) {
    return fail(d.id, BLKIF_OP_DISCARD, BLKIF_RSP_ERROR,
                fmt::format("discard {}+{} past the end of the disk ({})", d.sector_number,
                            d.nr_sectors, limits.disk_sectors));
  }
  BlkRequest out = start(d.id, BLKIF_OP_DISCARD, d.sector_number);
  out.nr_sectors = d.nr_sectors;
  out.secure_discard = (d.flag & BLKIF_DISCARD_SECURE) != 0 && limits.discard_secure;
  return out;
}

// Copies the indirect pages one at a time and appends their segments; an error names the reason.
std::expected<void, std::string> read_indirect_segments(const blkif_request_indirect_t& ind,
                                                        BlkRequest& out,
                                                        const IndirectPageReader& read_page) {
  const std::uint32_t nseg = ind.nr_segments;
  const std::uint32_t pages = (nseg + kSegmentsPerIndirectPage - 1) / kSegmentsPerIndirectPage;
  std::array<std::byte, kBlkifPageSize> page;
  for (std::uint32_t p = 0; p < pages; ++p) {
    const std::int16_t status = read_page(ind.indirect_grefs[p], page);
    if (status != GNTST_okay) {
      return std::unexpected(fmt::format("indirect page {} (gref {}): grant status {}", p,
                                         ind.indirect_grefs[p], status));
    }
    const std::uint32_t in_page = std::min(kSegmentsPerIndirectPage, nseg - p * kSegmentsPerIndirectPage);
    for (std::uint32_t i = 0; i < in_page; ++i) {
      blkif_request_segment seg;  // copied once out of our private copy of the page
      std::memcpy(&seg, page.data() + i * sizeof(seg), sizeof(seg));
      if (!add_segment(out, seg)) {
        return std::unexpected(fmt::format("indirect segment {}: sectors {}..{}",
                                           p * kSegmentsPerIndirectPage + i, seg.first_sect,
                                           seg.last_sect));
      }
    }
  }
  return {};
}

Result decode_indirect(const blkif_request_t& req, const BlkLimits& limits,
                       const IndirectPageReader& read_page) {
  blkif_request_indirect_t ind;
  std::memcpy(&ind, &req, sizeof(ind));
  const std::uint8_t op = ind.indirect_op;  // blkfront expects it echoed, not BLKIF_OP_INDIRECT
  if (limits.max_indirect_segments == 0) {
    return fail(ind.id, op, BLKIF_RSP_EOPNOTSUPP, "indirect requests not offered");
  }
  if (op != BLKIF_OP_READ && op != BLKIF_OP_WRITE) {
    return fail(ind.id, op, BLKIF_RSP_ERROR, fmt::format("indirect operation {}", op));
  }
  const std::uint32_t max = std::min(limits.max_indirect_segments, kMaxIndirectSegments);
  if (ind.nr_segments == 0 || ind.nr_segments > max) {
    return fail(ind.id, op, BLKIF_RSP_ERROR,
                fmt::format("{} segments in an indirect request (max {})", ind.nr_segments, max));
  }
  if (op == BLKIF_OP_WRITE && limits.readonly) {
    return fail(ind.id, op, BLKIF_RSP_ERROR, "write to a read-only disk");
  }
  if (!read_page) return fail(ind.id, op, BLKIF_RSP_ERROR, "no indirect page reader");
  BlkRequest out = start(ind.id, op, ind.sector_number);
  out.indirect = true;
  out.segments.reserve(ind.nr_segments);
  if (auto ok = read_indirect_segments(ind, out, read_page); !ok) {
    return fail(ind.id, op, BLKIF_RSP_ERROR, std::move(ok.error()));
  }
  return check_range(std::move(out), limits);
}

}  // namespace

std::expected<BlkRequest, BlkDecodeError> decode_request(const blkif_request_t& req,
                                                         const BlkLimits& limits,
                                                         const IndirectPageReader& read_page) {
  switch (req.operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
    case BLKIF_OP_WRITE_BARRIER:
    case BLKIF_OP_FLUSH_DISKCACHE:
      return decode_direct(req, limits);
    case BLKIF_OP_DISCARD:
      return decode_discard(req, limits);
    case BLKIF_OP_INDIRECT:
      return decode_indirect(req, limits, read_page);
    default:  // includes BLKIF_OP_RESERVED_1
      return fail(req.id, req.operation, BLKIF_RSP_EOPNOTSUPP,
                  fmt::format("unknown operation {}", req.operation));
  }
}

blkif_response_t make_response(std::uint64_t id, std::uint8_t op, std::int16_t status) {
  blkif_response_t rsp;
  std::memset(&rsp, 0, sizeof(rsp));  // the padding goes to the guest too: no stack bytes
  rsp.id = id;
  rsp.operation = op;
  rsp.status = status;
  return rsp;
}

}  // namespace kxen::blk
