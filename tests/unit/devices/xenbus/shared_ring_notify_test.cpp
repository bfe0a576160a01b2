// SharedRing event suppression (req_event/rsp_event) as ring.h's macros define it, the
// final-check race, and a two-thread run that would hang on a lost wakeup. [xenbus][ring]
#include "xenbus/shared_ring.hpp"
#include "fake_ring_frontend.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <semaphore>
#include <string>
#include <thread>

using kxen::xenbus::BlkifRing;
using kxen::xenbus::RingPages;
using namespace kxen::xenbus::test;

namespace {

BlkifRing attach(const FakeBlkFrontend& front) {
  auto ring = BlkifRing::create(front.spans());
  REQUIRE(ring.has_value());
  return std::move(*ring);
}

// Takes everything pending and answers it (without publishing).
unsigned serve(BlkifRing& ring) {
  auto n = ring.pending();
  REQUIRE(n.has_value());
  unsigned done = 0;
  while (auto req = ring.take()) {
    REQUIRE(ring.push(blkif_response_t{.id = req->id, .operation = req->operation, .status = 0}));
    ++done;
  }
  return done;
}

}  // namespace

TEST_CASE("ring: responses notify only when the frontend asked (rsp_event)", "[xenbus][ring]") {
  FakeBlkFrontend front(1);
  auto ring = attach(front);
  CHECK_FALSE(front.final_check_responses());  // arms rsp_event = 1
  front.push(make_request(1));
  front.push(make_request(2));
  REQUIRE(serve(ring) == 2);
  CHECK(ring.publish());        // rsp_event 1 lies in (0, 2]
  CHECK_FALSE(ring.publish());  // nothing new
  front.push(make_request(3));
  REQUIRE(serve(ring) == 1);
  CHECK_FALSE(ring.publish());  // the frontend has not re-armed: suppressed
  CHECK(front.responses().size() == 3);
  CHECK_FALSE(front.final_check_responses());  // rsp_event = 4
  front.push(make_request(4));
  REQUIRE(serve(ring) == 1);
  CHECK(ring.publish());
  CHECK(front.responses().size() == 1);

  // A frontend batching its interrupts: event 3 responses ahead fires on the third only.
  front.pages().set_word(RingPages::kRspEvent, ring.rsp_prod_pvt() + 3);
  for (std::uint32_t i = 0; i < 3; ++i) front.push(make_request(10 + i));
  REQUIRE(ring.pending() == 3u);
  for (int i = 0; i < 3; ++i) {
    auto req = ring.take();
    REQUIRE(req.has_value());
    REQUIRE(ring.push(blkif_response_t{.id = req->id, .operation = 0, .status = 0}));
    CHECK(ring.publish() == (i == 2));
  }
}

TEST_CASE("ring: the published rsp_prod is ours, not the guest-writable copy", "[xenbus][ring]") {
  FakeBlkFrontend front(1);
  auto ring = attach(front);
  front.final_check_responses();
  front.push(make_request(1));
  REQUIRE(serve(ring) == 1);
  front.pages().set_word(RingPages::kRspProd, 0x12345);  // hostile: fake an "old" rsp_prod
  CHECK(ring.publish());
  CHECK(front.pages().word(RingPages::kRspProd) == 1);
}

TEST_CASE("ring: requests notify only when the backend asked (req_event)", "[xenbus][ring]") {
  FakeBlkFrontend front(1);
  auto ring = attach(front);
  CHECK(front.push(make_request(1)));        // SHARED_RING_INIT armed req_event = 1
  CHECK_FALSE(front.push(make_request(2)));  // backend not re-armed yet
  REQUIRE(serve(ring) == 2);
  CHECK_FALSE(ring.final_check());
  CHECK(front.pages().word(RingPages::kReqEvent) == 3);  // req_cons + 1
  CHECK(front.push(make_request(3)));
  CHECK_FALSE(front.push(make_request(4)));
  CHECK(ring.final_check());  // work waiting: true without re-arming
  CHECK(front.pages().word(RingPages::kReqEvent) == 3);
  CHECK(serve(ring) == 2);
}

TEST_CASE("ring: a request pushed before final_check() is never lost", "[xenbus][ring]") {
  FakeBlkFrontend front(1);
  auto ring = attach(front);
  front.push(make_request(1));
  REQUIRE(serve(ring) == 1);  // batch done; req_event is still the stale 1
  // The frontend pushes now: req_event says the backend is awake, so no event is sent...
  CHECK_FALSE(front.push(make_request(2)));
  // ...and the backend's final check before sleeping must find it.
  CHECK(ring.final_check());
  REQUIRE(serve(ring) == 1);
  CHECK_FALSE(ring.final_check());
  CHECK(front.push(make_request(3)));  // now asleep: this one notifies
}

namespace {

// A frontend on another thread, writing the pages directly with atomics (seq_cst where ring.h has xen_mb()).
class ThreadedFrontend {
 public:
  explicit ThreadedFrontend(FakePages& pages, unsigned size) : pages_(pages), size_(size) {
    std::memset(pages.page(0), 0, 64);
    pages.set_word(RingPages::kReqEvent, 1);
    pages.set_word(RingPages::kRspEvent, 1);
  }
  std::atomic_ref<std::uint32_t> word(std::size_t off) {
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(pages_.page(0) + off));
  }
  void copy(std::size_t off, void* buf, std::size_t n, bool to_ring) {
    auto* b = static_cast<std::byte*>(buf);
    for (std::size_t done = 0; done < n;) {
      const std::size_t at = off + done, chunk = std::min(n - done, kPage - at % kPage);
      std::byte* p = pages_.page(at / kPage) + at % kPage;
      to_ring ? std::memcpy(p, b + done, chunk) : std::memcpy(b + done, p, chunk);
      done += chunk;
    }
  }
  std::size_t slot(RING_IDX i) const { return 64 + (i & (size_ - 1)) * sizeof(blkif_sring_entry); }

  // Queues what fits, publishes, and returns whether the backend must be kicked.
  // Batches of 1..8 requests, so that the backend often runs dry and re-arms req_event.
  bool send(std::uint32_t limit) {
    const RING_IDX old = req_prod_;
    const RING_IDX batch_end = old + 1 + old % 8;
    while (req_prod_ - rsp_cons_ < size_ && req_prod_ < limit && req_prod_ != batch_end) {
      blkif_request_t req = make_request(req_prod_);
      copy(slot(req_prod_), &req, sizeof(req), true);
      ++req_prod_;
    }
    if (old == req_prod_) return false;
    word(RingPages::kReqProd).store(req_prod_, std::memory_order_seq_cst);  // + xen_mb()
    const RING_IDX event = word(RingPages::kReqEvent).load(std::memory_order_seq_cst);
    return RING_IDX(req_prod_ - event) < RING_IDX(req_prod_ - old);
  }
  // Consumes responses in order; false on an id out of sequence.
  bool receive() {
    const RING_IDX prod = word(RingPages::kRspProd).load(std::memory_order_acquire);
    for (; rsp_cons_ != prod; ++rsp_cons_) {
      blkif_response_t rsp;
      copy(slot(rsp_cons_), &rsp, sizeof(rsp), false);
      if (rsp.id != make_request(rsp_cons_).id) return false;
    }
    return true;
  }
  bool final_check_responses() {  // RING_FINAL_CHECK_FOR_RESPONSES
    if (word(RingPages::kRspProd).load(std::memory_order_acquire) != rsp_cons_) return true;
    word(RingPages::kRspEvent).store(rsp_cons_ + 1, std::memory_order_seq_cst);
    return word(RingPages::kRspProd).load(std::memory_order_seq_cst) != rsp_cons_;
  }
  RING_IDX received() const { return rsp_cons_; }

 private:
  FakePages& pages_;
  unsigned size_;
  RING_IDX req_prod_ = 0, rsp_cons_ = 0;
};

}  // namespace

TEST_CASE("ring: two threads, event suppression on, nothing lost or hung", "[xenbus][ring]") {
  constexpr std::uint32_t kRequests = 20000;
  constexpr auto kTimeout = std::chrono::seconds(10);
  FakePages pages(4);  // 128 entries, some straddling pages
  ThreadedFrontend front(pages, 128);
  auto ring = BlkifRing::create(pages.spans());
  REQUIRE(ring.has_value());
  REQUIRE(ring->size() == 128);
  std::counting_semaphore<1 << 20> kick_back(0), kick_front(0);
  std::atomic<bool> stop{false};
  std::string back_error, front_error;  // read after join

  std::thread backend([&] {
    std::uint64_t next = make_request(0).id;
    while (next != make_request(kRequests).id && !stop) {
      if (!kick_back.try_acquire_for(kTimeout)) return void(back_error = "backend starved");
      do {
        if (!ring->pending()) return void(back_error = "bad req_prod");
        while (auto req = ring->take()) {
          if (req->id != next++) return void(back_error = "request out of order");
          if (!ring->push(blkif_response_t{.id = req->id, .operation = 0, .status = 0})) return;
        }
        if (ring->publish()) kick_front.release();
      } while (ring->final_check());
    }
  });
  while (front.received() < kRequests) {
    if (front.send(kRequests)) kick_back.release();
    const RING_IDX before = front.received();
    if (!front.receive()) { front_error = "response out of order"; break; }
    if (front.received() != before || front.final_check_responses()) continue;
    if (!kick_front.try_acquire_for(kTimeout)) { front_error = "frontend starved"; break; }
  }
  stop = true;
  kick_back.release();
  backend.join();
  CHECK(back_error.empty());
  CHECK(front_error.empty());
  CHECK(front.received() == kRequests);
}
