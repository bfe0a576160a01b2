// The blkif ring in both ABIs: which `protocol` values are served, x86_32 requests converted to
// the native layout field by field, and a 32-bit frontend (ring.h macros over the i386 layout)
// talking to BlkRing. Tag [blk].
#include "blk/blk_ring.hpp"
#include "../frontend_ring.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstring>

using namespace kxen::blk;

namespace {

template <class T>
void put(std::array<std::byte, 108>& raw, std::size_t offset, T value) {
  std::memcpy(raw.data() + offset, &value, sizeof value);
}

x86_32::blkif_request_t from_bytes(const std::array<std::byte, 108>& raw) {
  x86_32::blkif_request_t req;
  static_assert(sizeof req == sizeof raw);
  std::memcpy(&req, raw.data(), sizeof req);
  return req;
}

}  // namespace

TEST_CASE("blk ring: the protocol node picks the ABI", "[blk]") {
  CHECK(blkif_abi_of(std::nullopt) == BlkifAbi::x86_64);
  CHECK(blkif_abi_of(std::string("x86_64-abi")) == BlkifAbi::x86_64);
  CHECK(blkif_abi_of(std::string("x86_32-abi")) == BlkifAbi::x86_32);
  CHECK_FALSE(blkif_abi_of(std::string("arm-abi")).has_value());
  CHECK_FALSE(blkif_abi_of(std::string("x86_32-abi ")).has_value());
  CHECK_FALSE(blkif_abi_of(std::string("")).has_value());
}

TEST_CASE("blk ring: an x86_32 read moves its 64-bit fields from 4-byte offsets", "[blk]") {
  std::array<std::byte, 108> raw{};
  put<std::uint8_t>(raw, 0, BLKIF_OP_READ);
  put<std::uint8_t>(raw, 1, 2);
  put<std::uint16_t>(raw, 2, 51712);
  put<std::uint64_t>(raw, 4, 0x1122334455667788ull);
  put<std::uint64_t>(raw, 12, 4096);
  put<std::uint32_t>(raw, 20, 7);  // seg[0].gref
  put<std::uint8_t>(raw, 24, 0);
  put<std::uint8_t>(raw, 25, 7);
  put<std::uint32_t>(raw, 28, 9);  // seg[1].gref
  put<std::uint8_t>(raw, 32, 1);
  put<std::uint8_t>(raw, 33, 3);
  const blkif_request_t req = to_native(from_bytes(raw));
  CHECK(req.operation == BLKIF_OP_READ);
  CHECK(req.nr_segments == 2);
  CHECK(req.handle == 51712);
  CHECK(req.id == 0x1122334455667788ull);
  CHECK(req.sector_number == 4096);
  CHECK(req.seg[0].gref == 7);
  CHECK(req.seg[0].last_sect == 7);
  CHECK(req.seg[1].gref == 9);
  CHECK(req.seg[1].first_sect == 1);
  CHECK(req.seg[1].last_sect == 3);
}

TEST_CASE("blk ring: x86_32 discard and indirect requests keep their own layouts", "[blk]") {
  std::array<std::byte, 108> raw{};
  put<std::uint8_t>(raw, 0, BLKIF_OP_DISCARD);
  put<std::uint8_t>(raw, 1, BLKIF_DISCARD_SECURE);
  put<std::uint64_t>(raw, 4, 5);
  put<std::uint64_t>(raw, 12, 2048);
  put<std::uint64_t>(raw, 20, 8192);
  blkif_request_t req = to_native(from_bytes(raw));
  blkif_request_discard_t discard;
  std::memcpy(&discard, &req, sizeof discard);
  CHECK(discard.operation == BLKIF_OP_DISCARD);
  CHECK(discard.flag == BLKIF_DISCARD_SECURE);
  CHECK(discard.id == 5);
  CHECK(discard.sector_number == 2048);
  CHECK(discard.nr_sectors == 8192);

  raw.fill(std::byte{0});
  put<std::uint8_t>(raw, 0, BLKIF_OP_INDIRECT);
  put<std::uint8_t>(raw, 1, BLKIF_OP_WRITE);
  put<std::uint16_t>(raw, 2, 300);
  put<std::uint64_t>(raw, 4, 6);
  put<std::uint64_t>(raw, 12, 64);
  put<std::uint16_t>(raw, 20, 51728);
  for (std::uint32_t i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; ++i) put<std::uint32_t>(raw, 24 + 4 * i, 100 + i);
  req = to_native(from_bytes(raw));
  blkif_request_indirect_t indirect;
  std::memcpy(&indirect, &req, sizeof indirect);
  CHECK(indirect.operation == BLKIF_OP_INDIRECT);
  CHECK(indirect.indirect_op == BLKIF_OP_WRITE);
  CHECK(indirect.nr_segments == 300);
  CHECK(indirect.id == 6);
  CHECK(indirect.sector_number == 64);
  CHECK(indirect.handle == 51728);
  CHECK(indirect.indirect_grefs[0] == 100);
  CHECK(indirect.indirect_grefs[7] == 107);
}

TEST_CASE("blk ring: an x86_32 segment count beyond the ABI copies no more than 11", "[blk]") {
  std::array<std::byte, 108> raw{};
  put<std::uint8_t>(raw, 0, BLKIF_OP_WRITE);
  put<std::uint8_t>(raw, 1, 200);
  const blkif_request_t req = to_native(from_bytes(raw));
  CHECK(req.nr_segments == 200);  // kept, so the decoder refuses the request
}

TEST_CASE("blk ring: a 32-bit frontend's requests and our responses through one page", "[blk]") {
  alignas(4096) static std::array<std::byte, 4096> page{};
  page.fill(std::byte{0});
  auto* sring = reinterpret_cast<x86_32::blkif_sring*>(page.data());
  SHARED_RING_INIT(sring);
  x86_32::blkif_front_ring front;
  FRONT_RING_INIT(&front, sring, 4096);
  REQUIRE(RING_SIZE(&front) == 32);

  auto ring = BlkRing::create(BlkifAbi::x86_32, {std::span<std::byte>(page)});
  REQUIRE(ring);
  CHECK(ring->size() == 32);
  for (std::uint64_t i = 0; i < 3; ++i) {
    x86_32::blkif_request_t* req = RING_GET_REQUEST(&front, front.req_prod_pvt);
    req->operation = BLKIF_OP_READ;
    req->nr_segments = 1;
    req->id = 0xabc00000000ull + i;
    req->sector_number = i * 8;
    req->seg[0].gref = static_cast<grant_ref_t>(10 + i);
    req->seg[0].first_sect = 0;
    req->seg[0].last_sect = 7;
    ++front.req_prod_pvt;
  }
  RING_PUSH_REQUESTS(&front);

  auto pending = ring->pending();
  REQUIRE(pending);
  CHECK(*pending == 3);
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto req = ring->take();
    REQUIRE(req);
    CHECK(req->id == 0xabc00000000ull + i);
    CHECK(req->sector_number == i * 8);
    CHECK(req->seg[0].gref == 10 + i);
    blkif_response_t rsp{};
    rsp.id = req->id;
    rsp.operation = BLKIF_OP_READ;
    rsp.status = i == 1 ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY;
    CHECK(ring->push(rsp));
  }
  CHECK_FALSE(ring->take());
  CHECK_FALSE(ring->push(blkif_response_t{}));
  ring->publish();

  REQUIRE(RING_HAS_UNCONSUMED_RESPONSES(&front) == 3);
  for (std::uint64_t i = 0; i < 3; ++i) {
    const x86_32::blkif_response_t* rsp = RING_GET_RESPONSE(&front, front.rsp_cons);
    // Copied out: the i386 layout leaves id 4-byte aligned, and CHECK binds a reference.
    const std::uint64_t id = rsp->id;
    const std::uint8_t operation = rsp->operation;
    const std::int16_t status = rsp->status;
    CHECK(id == 0xabc00000000ull + i);
    CHECK(operation == BLKIF_OP_READ);
    CHECK(status == (i == 1 ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY));
    ++front.rsp_cons;
  }
}
