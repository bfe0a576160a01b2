// What a hostile frontend writes into blkif and netif rings, through the code that reads it: the
// shared ring's index checks, the blkif request decoder (indirect pages from the input, or
// refused grants) and the netif tx decoder, with offload headers parsed from the input.
//
// Input: a header byte (bits 0-1: ring pages as a power of two; bit 2: blkif or netif tx), then
// ops until the input ends: 0 scribble a byte of the ring pages, 1 set req_prod, 2 take and
// decode a batch (then answer), 3 final_check, 4 publish.
// Invariants: pending() never exceeds the ring, push() never answers more than was taken, a
// decoded blkif request stays inside the disk and the segment limit, a tx packet's fragments fit
// their pages and sum to its length.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "blk/blkif_request.hpp"
#include "fuzz_input.hpp"
#include "net/netif_abi.hpp"
#include "net/offload.hpp"
#include "net/tx_decoder.hpp"
#include "xenbus/shared_ring.hpp"

using kxen::fuzz::FuzzInput;
using kxen::fuzz::invariant_failed;

namespace {

constexpr std::uint64_t kDiskSectors = 1 << 16;  // 32 MiB
constexpr unsigned kMaxOps = 512;

struct RingMemory {
  std::vector<std::array<std::byte, 4096>> pages;
  std::vector<std::span<std::byte>> spans() {
    std::vector<std::span<std::byte>> out;
    for (auto& p : pages) out.emplace_back(p);
    return out;
  }
  std::byte& at(std::size_t offset) { return pages[(offset / 4096) % pages.size()][offset % 4096]; }
};

void check_blk(const kxen::blk::BlkRequest& r, const kxen::blk::BlkLimits& limits) {
  if (r.nr_sectors != 0 && (r.sector >= limits.disk_sectors || r.nr_sectors > limits.disk_sectors - r.sector))
    invariant_failed("blkif request past the end of the disk");
  const std::size_t max_segments =
      r.indirect ? limits.max_indirect_segments : static_cast<std::size_t>(BLKIF_MAX_SEGMENTS_PER_REQUEST);
  if (r.segments.size() > max_segments) invariant_failed("more segments than allowed");
  std::uint64_t sectors = 0;
  for (const auto& s : r.segments) {
    if (s.first_sect > s.last_sect || s.last_sect >= 8) invariant_failed("segment outside its page");
    sectors += s.sectors();
  }
  if (!r.segments.empty() && sectors != r.nr_sectors) invariant_failed("segment sectors do not add up");
  const bool writes = r.operation == BLKIF_OP_WRITE || r.operation == BLKIF_OP_WRITE_BARRIER ||
                      r.operation == BLKIF_OP_DISCARD || !r.segments.empty();
  if (limits.readonly && writes && r.operation != BLKIF_OP_READ) invariant_failed("a write to a read-only disk decoded");
}

void check_tx(const kxen::net::TxPacket& p) {
  if (p.fragments.empty() || p.fragments.size() > kxen::net::kMaxPacketSlots) invariant_failed("tx slot count");
  std::uint32_t total = 0;
  for (const auto& f : p.fragments) {
    if (std::uint32_t{f.offset} + f.size > kxen::net::kXenPageSize) invariant_failed("tx slot crosses its page");
    total += f.size;
  }
  if (total != p.length) invariant_failed("tx fragments do not sum to the packet");
}

template <class Request, class Response, class Consume>
void drive(FuzzInput& in, RingMemory& mem, kxen::xenbus::SharedRing<Request, Response>& ring, Consume consume) {
  unsigned taken = 0;  // requests taken and not answered
  for (unsigned op = 0; op < kMaxOps && !in.empty(); ++op) {
    switch (in.u8() % 5) {
      case 0:
        mem.at(in.u16()) = std::byte{in.u8()};
        break;
      case 1:
        kxen::xenbus::RingPages::create(mem.spans())->word(kxen::xenbus::RingPages::kReqProd).store(in.u32());
        break;
      case 2: {
        auto pending = ring.pending();
        if (!pending) break;  // the backend disables such a ring
        if (*pending > ring.size()) invariant_failed("pending beyond the ring");
        while (auto req = ring.take()) {
          ++taken;
          consume(*req);
        }
        // Answer some of them; push() must refuse beyond what was taken.
        const unsigned answers = in.u8();
        for (unsigned i = 0; i < answers; ++i) {
          const bool pushed = ring.push(Response{});
          if (pushed != (taken > 0)) invariant_failed("push() disagrees with the requests taken");
          if (pushed) --taken;
        }
        break;
      }
      case 3:
        (void)ring.final_check();
        break;
      case 4:
        (void)ring.publish();
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  const std::uint8_t header = in.u8();
  RingMemory mem;
  mem.pages.resize(std::size_t{1} << (header & 3));
  for (auto& p : mem.pages) p.fill(std::byte{0});

  if ((header & 4) == 0) {
    auto ring = kxen::xenbus::BlkifRing::create(mem.spans());
    if (!ring) invariant_failed("a zeroed ring refused");
    kxen::blk::BlkLimits limits;
    limits.disk_sectors = kDiskSectors;
    limits.readonly = (header & 8) != 0;
    limits.discard = (header & 16) != 0;
    limits.max_indirect_segments = (header & 32) ? kxen::blk::kMaxIndirectSegments : 0;
    std::array<std::byte, 4096> indirect{};
    auto read_page = [&](grant_ref_t ref, std::span<std::byte> out) -> std::int16_t {
      if (ref % 7 == 0) return GNTST_bad_gntref;  // revoked
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = indirect[(i + ref) % indirect.size()];
      return GNTST_okay;
    };
    drive(in, mem, *ring, [&](const blkif_request_t& req) {
      const auto fill = in.bytes(64);
      for (std::size_t i = 0; i < fill.size(); ++i) indirect[(i * 61) % indirect.size()] = fill[i];
      auto decoded = kxen::blk::decode_request(req, limits, read_page);
      if (decoded) check_blk(*decoded, limits);
    });
  } else {
    auto ring = kxen::net::TxRing::create(mem.spans());
    if (!ring) invariant_failed("a zeroed ring refused");
    kxen::net::TxDecoder decoder;
    drive(in, mem, *ring, [&](const netif_tx_request_t& slot) {
      switch (decoder.feed(slot)) {
        case kxen::net::TxVerdict::kPacket: {
          const auto packet = decoder.take();
          check_tx(packet);
          const auto head = in.bytes(kxen::net::kMaxParsedHeader);
          (void)kxen::net::tx_vnet_header(packet, head);
          break;
        }
        case kxen::net::TxVerdict::kDrop:
          (void)decoder.take();
          break;
        case kxen::net::TxVerdict::kNeedMore:
        case kxen::net::TxVerdict::kFatal:
          break;
      }
    });
  }
  return 0;
}
