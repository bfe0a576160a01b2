#include "blk/blk_ring.hpp"

#include <algorithm>
#include <cstring>

namespace kxen::blk {

// The i386 layout blkfront uses (Linux's blkif_x86_32_* in xen-blkback/common.h).
static_assert(sizeof(x86_32::blkif_request_t) == 108);
static_assert(offsetof(x86_32::blkif_request_t, id) == 4);
static_assert(offsetof(x86_32::blkif_request_t, seg) == 20);
static_assert(offsetof(x86_32::blkif_request_discard_t, nr_sectors) == 20);
static_assert(offsetof(x86_32::blkif_request_indirect_t, indirect_grefs) == 24);
static_assert(sizeof(x86_32::blkif_response_t) == 12);
static_assert(xenbus::ring_entries(4096, sizeof(x86_32::blkif_sring_entry)) == 32);

std::optional<BlkifAbi> blkif_abi_of(const std::optional<std::string>& protocol) {
  if (!protocol || *protocol == XEN_IO_PROTO_ABI_X86_64) return BlkifAbi::x86_64;
  if (*protocol == XEN_IO_PROTO_ABI_X86_32) return BlkifAbi::x86_32;
  return std::nullopt;
}

blkif_request_t to_native(const x86_32::blkif_request_t& req) {
  blkif_request_t out{};
  out.operation = req.operation;
  switch (req.operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
    case BLKIF_OP_WRITE_BARRIER:
    case BLKIF_OP_FLUSH_DISKCACHE: {
      out.nr_segments = req.nr_segments;
      out.handle = req.handle;
      out.id = req.id;
      out.sector_number = req.sector_number;
      const unsigned n = std::min<unsigned>(req.nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST);
      for (unsigned i = 0; i < n; ++i) {
        out.seg[i].gref = req.seg[i].gref;
        out.seg[i].first_sect = req.seg[i].first_sect;
        out.seg[i].last_sect = req.seg[i].last_sect;
      }
      break;
    }
    case BLKIF_OP_DISCARD: {
      x86_32::blkif_request_discard_t in;
      std::memcpy(&in, &req, sizeof in);
      blkif_request_discard_t d{};
      d.operation = in.operation;
      d.flag = in.flag;
      d.handle = in.handle;
      d.id = in.id;
      d.sector_number = in.sector_number;
      d.nr_sectors = in.nr_sectors;
      std::memcpy(&out, &d, sizeof d);
      break;
    }
    case BLKIF_OP_INDIRECT: {
      x86_32::blkif_request_indirect_t in;
      std::memcpy(&in, &req, sizeof in);
      blkif_request_indirect_t d{};
      d.operation = in.operation;
      d.indirect_op = in.indirect_op;
      d.nr_segments = in.nr_segments;
      d.id = in.id;
      d.sector_number = in.sector_number;
      d.handle = in.handle;
      std::copy_n(in.indirect_grefs, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, d.indirect_grefs);
      std::memcpy(&out, &d, sizeof d);
      break;
    }
    default:
      out.id = req.id;  // an unknown operation is answered by its id
      break;
  }
  return out;
}

std::expected<BlkRing, std::string> BlkRing::create(BlkifAbi abi, std::vector<std::span<std::byte>> pages) {
  if (abi == BlkifAbi::x86_32) {
    auto ring = Ring32::create(std::move(pages));
    if (!ring) return std::unexpected(ring.error());
    return BlkRing(std::move(*ring));
  }
  auto ring = Ring64::create(std::move(pages));
  if (!ring) return std::unexpected(ring.error());
  return BlkRing(std::move(*ring));
}

unsigned BlkRing::size() const {
  return std::visit([](const auto& r) { return r.size(); }, ring_);
}

std::expected<unsigned, xenbus::RingError> BlkRing::pending() {
  return std::visit([](auto& r) { return r.pending(); }, ring_);
}

std::optional<blkif_request_t> BlkRing::take() {
  if (auto* r = std::get_if<Ring64>(&ring_)) return r->take();
  auto req = std::get<Ring32>(ring_).take();
  if (!req) return std::nullopt;
  return to_native(*req);
}

bool BlkRing::final_check() {
  return std::visit([](auto& r) { return r.final_check(); }, ring_);
}

bool BlkRing::push(const blkif_response_t& rsp) {
  if (auto* r = std::get_if<Ring64>(&ring_)) return r->push(rsp);
  x86_32::blkif_response_t out{};
  out.id = rsp.id;
  out.operation = rsp.operation;
  out.status = rsp.status;
  return std::get<Ring32>(ring_).push(out);
}

bool BlkRing::publish() {
  return std::visit([](auto& r) { return r.publish(); }, ring_);
}

}  // namespace kxen::blk
