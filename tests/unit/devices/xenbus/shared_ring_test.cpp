// SharedRing over non-contiguous fake pages, against a frontend using ring.h's own macros:
// layout, multi-page rings with straddling entries, index wrap, hostile indexes. [xenbus][ring]
#include "xenbus/shared_ring.hpp"
#include "fake_ring_frontend.hpp"

#include <catch2/catch.hpp>

#include <xen/io/netif.h>

#include <cstring>
#include <vector>

using kxen::xenbus::BlkifRing;
using kxen::xenbus::RingError;
using kxen::xenbus::RingPages;
using kxen::xenbus::SharedRing;
using namespace kxen::xenbus::test;

// The union size rule must match DEFINE_RING_TYPES for other rings too.
static_assert(SharedRing<netif_tx_request_t, netif_tx_response_t>::kEntrySize == sizeof(netif_tx_sring_entry));
static_assert(SharedRing<netif_rx_request_t, netif_rx_response_t>::kEntrySize == sizeof(netif_rx_sring_entry));

namespace {

BlkifRing attach(const FakeBlkFrontend& front) {
  auto ring = BlkifRing::create(front.spans());
  REQUIRE(ring.has_value());
  return std::move(*ring);
}

// Frontend fills the whole ring; backend takes and answers every request; frontend checks.
void full_round(FakeBlkFrontend& front, BlkifRing& ring, std::uint32_t tag) {
  const RING_IDX first = front.req_prod_pvt();
  for (unsigned i = 0; i < ring.size(); ++i) front.queue(make_request(tag + i));
  front.publish();
  auto pending = ring.pending();
  REQUIRE(pending.has_value());
  REQUIRE(*pending == ring.size());
  for (unsigned i = 0; i < ring.size(); ++i) {
    auto req = ring.take();
    REQUIRE(req.has_value());
    REQUIRE(same_bytes(*req, front.request_at(first + i)));
    REQUIRE(same_bytes(*req, make_request(tag + i)));
  }
  CHECK_FALSE(ring.take().has_value());
  for (unsigned i = 0; i < ring.size(); ++i) {
    REQUIRE(ring.push(blkif_response_t{.id = make_request(tag + i).id, .operation = 1, .status = 0}));
  }
  ring.publish();
  auto rsps = front.responses();
  REQUIRE(rsps.size() == ring.size());
  for (unsigned i = 0; i < ring.size(); ++i) REQUIRE(rsps[i].id == make_request(tag + i).id);
}

}  // namespace

TEST_CASE("ring: page count, page size and alignment are checked", "[xenbus][ring]") {
  FakePages three(3), many(32), one(1);
  CHECK_FALSE(BlkifRing::create({}).has_value());
  CHECK_FALSE(BlkifRing::create(three.spans()).has_value());
  CHECK_FALSE(BlkifRing::create(many.spans()).has_value());
  auto short_page = one.spans();
  short_page[0] = short_page[0].first(4095);
  CHECK_FALSE(BlkifRing::create(short_page).has_value());
  std::vector<std::byte> buf(2 * kPage);
  CHECK_FALSE(BlkifRing::create({std::span(buf).subspan(1, kPage)}).has_value());
}

TEST_CASE("ring: size matches __RING_SIZE for 1..16 pages", "[xenbus][ring]") {
  const unsigned expected[] = {32, 64, 128, 256, 512};  // 112-byte blkif entries
  unsigned i = 0;
  for (std::size_t pages : {1, 2, 4, 8, 16}) {
    FakeBlkFrontend front(pages);
    auto ring = attach(front);
    CHECK(ring.size() == front.size());
    CHECK(ring.size() == expected[i++]);
  }
  CHECK(kxen::xenbus::ring_entries(20 * kPage, 12) == 4096);  // not limited to the ABI's order
}

TEST_CASE("ring: pages are really separate allocations", "[xenbus][ring]") {
  FakePages pages(16);
  auto spans = pages.spans();
  for (std::size_t i = 0; i + 1 < spans.size(); ++i) CHECK(spans[i].data() + kPage != spans[i + 1].data());
}

TEST_CASE("ring: multi-page rings carry entries that straddle pages", "[xenbus][ring]") {
  // 4 pages: entry 72 occupies bytes 8128..8239, across the page 1/2 boundary.
  for (std::size_t pages : {2, 4, 16}) {
    FakeBlkFrontend front(pages);
    auto ring = attach(front);
    full_round(front, ring, 100);
    full_round(front, ring, 7000);  // second lap reuses every slot
  }
}

TEST_CASE("ring: odd-sized entries straddle on a two-page ring", "[xenbus][ring]") {
  struct Req { std::uint32_t w[5]; };  // 20 bytes: entry 201 spans bytes 4084..4103
  struct Rsp { std::uint32_t a, b; };
  using Ring = SharedRing<Req, Rsp>;
  static_assert(Ring::kEntrySize == 20);
  FakePages pages(2);
  std::memset(pages.page(0), 0, 64);
  auto ring = Ring::create(pages.spans());
  REQUIRE(ring.has_value());
  REQUIRE(ring->size() == 256);
  std::vector<std::byte> flat(2 * kPage);
  pages.gather(flat.data());
  for (std::uint32_t i = 0; i < 256; ++i) {
    const Req r{{i, i * 3, i * 5, i * 7, ~i}};
    std::memcpy(flat.data() + 64 + i * 20, &r, sizeof(r));
  }
  const std::uint32_t prod = 256;
  std::memcpy(flat.data(), &prod, 4);
  pages.scatter(flat.data());
  REQUIRE(ring->pending() == 256u);
  for (std::uint32_t i = 0; i < 256; ++i) {
    auto r = ring->take();
    REQUIRE(r.has_value());
    REQUIRE((r->w[0] == i && r->w[1] == i * 3 && r->w[4] == ~i));
  }
  for (std::uint32_t i = 0; i < 256; ++i) REQUIRE(ring->push(Rsp{i, ~i}));
  ring->publish();
  pages.gather(flat.data());
  Rsp rsp;
  std::memcpy(&rsp, flat.data() + 64 + 201 * 20, sizeof(rsp));
  CHECK((rsp.a == 201 && rsp.b == ~201u));
  CHECK(pages.word(RingPages::kRspProd) == 256);
}

TEST_CASE("ring: free-running indexes wrap past 2^32", "[xenbus][ring]") {
  FakeBlkFrontend front(1, 0xffffffe0u);
  auto ring = attach(front);
  CHECK(ring.req_cons() == 0xffffffe0u);
  for (std::uint32_t round = 0; round < 4; ++round) full_round(front, ring, round * 1000);
  CHECK(ring.req_cons() == 0xffffffe0u + 4 * 32);  // wrapped to 0x60
  CHECK(ring.rsp_prod_pvt() == ring.req_cons());
}

TEST_CASE("ring: a producer too far ahead or behind is an error, not a loop", "[xenbus][ring]") {
  FakeBlkFrontend front(1, 0xfffffff0u);
  auto ring = attach(front);
  for (std::uint32_t i = 0; i < 5; ++i) front.push(make_request(i));
  REQUIRE(ring.pending() == 5u);
  for (int i = 0; i < 3; ++i) REQUIRE(ring.take().has_value());  // 3 taken, unanswered
  const RING_IDX base = ring.rsp_prod_pvt();

  front.pages().set_word(RingPages::kReqProd, base + 32);  // exactly full: legal
  CHECK(ring.pending() == 29u);
  front.pages().set_word(RingPages::kReqProd, base + 33);
  auto over = ring.pending();
  REQUIRE_FALSE(over.has_value());
  CHECK(over.error().kind == RingError::Kind::kProducerOverflow);
  CHECK(over.error().req_prod == base + 33);
  CHECK_THAT(over.error().message(), Catch::Contains("bad req_prod"));
  CHECK(ring.final_check());  // a bad index reads as work, so pending() reports it

  front.pages().set_word(RingPages::kReqProd, base + 1);  // behind the 3 taken requests
  auto behind = ring.pending();
  REQUIRE_FALSE(behind.has_value());
  CHECK(behind.error().kind == RingError::Kind::kProducerBehind);
  front.pages().set_word(RingPages::kReqProd, base + 0x80000000u);
  CHECK_FALSE(ring.pending().has_value());
  CHECK(ring.req_cons() == base + 3);  // errors change nothing
}

TEST_CASE("ring: attach refuses a req_prod more than a ring ahead of rsp_prod", "[xenbus][ring]") {
  FakeBlkFrontend front(1, 100);
  front.pages().set_word(RingPages::kReqProd, 133);
  CHECK_FALSE(BlkifRing::create(front.spans()).has_value());
  front.pages().set_word(RingPages::kReqProd, 132);
  CHECK(BlkifRing::create(front.spans()).has_value());
}

TEST_CASE("ring: req_prod is read once per batch; take() stops at that snapshot", "[xenbus][ring]") {
  FakeBlkFrontend front(1);
  auto ring = attach(front);
  CHECK_FALSE(ring.take().has_value());  // nothing validated yet
  front.push(make_request(1));
  CHECK_FALSE(ring.take().has_value());  // published, but pending() has not looked
  REQUIRE(ring.pending() == 1u);
  front.push(make_request(2));  // arrives mid-batch
  REQUIRE(ring.take().has_value());
  CHECK_FALSE(ring.take().has_value());
  REQUIRE(ring.pending() == 1u);
  auto second = ring.take();
  REQUIRE(second.has_value());
  CHECK(second->id == make_request(2).id);
}

TEST_CASE("ring: the copy is private; later guest writes do not change it", "[xenbus][ring]") {
  FakeBlkFrontend front(1);
  auto ring = attach(front);
  front.push(make_request(9));
  REQUIRE(ring.pending() == 1u);
  auto req = ring.take();
  REQUIRE(req.has_value());
  std::memset(front.pages().page(0) + 64, 0xff, 112);  // the guest rewrites the slot
  CHECK(same_bytes(*req, make_request(9)));
}

TEST_CASE("ring: never more responses than requests taken", "[xenbus][ring]") {
  FakeBlkFrontend front(1);
  auto ring = attach(front);
  CHECK(ring.free_response_slots() == 0);
  CHECK_FALSE(ring.push(blkif_response_t{}));
  front.push(make_request(1));
  front.push(make_request(2));
  REQUIRE(ring.pending() == 2u);
  CHECK(ring.free_response_slots() == 0);  // pending is not taken
  REQUIRE(ring.take().has_value());
  CHECK(ring.free_response_slots() == 1);
  CHECK(ring.push(blkif_response_t{}));
  CHECK_FALSE(ring.push(blkif_response_t{}));
  CHECK(front.request_at(1).id == make_request(2).id);  // the untaken request survived
}

TEST_CASE("ring: reconnect re-attaches to a re-initialised ring", "[xenbus][ring]") {
  FakeBlkFrontend front(2);
  {
    auto ring = attach(front);
    full_round(front, ring, 1);
    front.push(make_request(77));  // left unanswered when the frontend goes away
  }
  front.reset();  // the same pages, SHARED_RING_INIT'ed again from 0
  auto ring = attach(front);
  CHECK(ring.req_cons() == 0);
  CHECK(ring.pending() == 0u);
  full_round(front, ring, 500);
}
