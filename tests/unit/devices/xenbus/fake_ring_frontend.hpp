// A blkif frontend driven by xen/io/ring.h's own macros, over ring pages that are separate heap
// buffers (as granted guest frames are). Each frontend step gathers the pages into a contiguous
// shadow, runs the macros there, and scatters it back; single-threaded tests only.
#pragma once

#include "xenbus/shared_ring.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

// ring.h leaves its barriers to the includer for interface versions >= 0x00030208. This
// frontend runs on the test's own thread only, so compiler barriers suffice (and TSan, which
// does not model thread fences, stays quiet).
#ifndef xen_mb
#define xen_mb() std::atomic_signal_fence(std::memory_order_seq_cst)
#define xen_rmb() std::atomic_signal_fence(std::memory_order_seq_cst)
#define xen_wmb() std::atomic_signal_fence(std::memory_order_seq_cst)
#endif

namespace kxen::xenbus::test {

constexpr std::size_t kPage = RingPages::kPageSize;

// `count` pages, each its own allocation, allocated last-to-first so that no page directly
// follows its predecessor in memory; filled with junk until the frontend initialises them.
class FakePages {
 public:
  explicit FakePages(std::size_t count) : pages_(count) {
    for (std::size_t i = count; i-- > 0;) {
      pages_[i] = std::make_unique<Page>();
      std::memset(pages_[i]->bytes, 0xa5, kPage);
    }
  }
  std::vector<std::span<std::byte>> spans() const {
    std::vector<std::span<std::byte>> out;
    for (const auto& p : pages_) out.emplace_back(p->bytes, kPage);
    return out;
  }
  std::size_t bytes() const { return pages_.size() * kPage; }
  void gather(std::byte* dst) const {
    for (std::size_t i = 0; i < pages_.size(); ++i) std::memcpy(dst + i * kPage, pages_[i]->bytes, kPage);
  }
  void scatter(const std::byte* src) {
    for (std::size_t i = 0; i < pages_.size(); ++i) std::memcpy(pages_[i]->bytes, src + i * kPage, kPage);
  }
  std::uint32_t word(std::size_t offset) const {
    std::uint32_t v;
    std::memcpy(&v, pages_[0]->bytes + offset, sizeof(v));
    return v;
  }
  void set_word(std::size_t offset, std::uint32_t v) { std::memcpy(pages_[0]->bytes + offset, &v, sizeof(v)); }
  std::byte* page(std::size_t i) { return pages_[i]->bytes; }

 private:
  struct alignas(64) Page {
    std::byte bytes[kPage];
  };
  std::vector<std::unique_ptr<Page>> pages_;
};

class FakeBlkFrontend {
 public:
  // SHARED_RING_INIT + FRONT_RING_ATTACH at `start` (a frontend reconnecting mid-sequence).
  explicit FakeBlkFrontend(std::size_t npages, RING_IDX start = 0)
      : pages_(npages), shadow_(std::make_unique<Shadow[]>(npages)) {
    reset(start);
  }

  // What a frontend does on (re)connect: re-initialise the shared header in the same pages.
  void reset(RING_IDX start = 0) {
    pages_.gather(raw());
    blkif_sring_t* s = sring();
    SHARED_RING_INIT(s);
    s->req_prod = s->rsp_prod = start;
    FRONT_RING_ATTACH(&front_, s, start, pages_.bytes());
    pages_.scatter(raw());
  }

  FakePages& pages() { return pages_; }
  std::vector<std::span<std::byte>> spans() const { return pages_.spans(); }
  unsigned size() const { return front_.nr_ents; }
  RING_IDX req_prod_pvt() const { return front_.req_prod_pvt; }

  // Writes a request at req_prod_pvt without publishing it.
  void queue(const blkif_request_t& req) {
    pages_.gather(raw());
    *RING_GET_REQUEST(&front_, front_.req_prod_pvt) = req;
    ++front_.req_prod_pvt;
    pages_.scatter(raw());
  }
  // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: true if the backend asked for an event.
  bool publish() {
    pages_.gather(raw());
    int notify = 0;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front_, notify);
    pages_.scatter(raw());
    return notify != 0;
  }
  bool push(const blkif_request_t& req) {
    queue(req);
    return publish();
  }
  // Consumes every published response.
  std::vector<blkif_response_t> responses() {
    pages_.gather(raw());
    std::vector<blkif_response_t> out;
    const RING_IDX prod = sring()->rsp_prod;
    for (; front_.rsp_cons != prod; ++front_.rsp_cons) out.push_back(*RING_GET_RESPONSE(&front_, front_.rsp_cons));
    return out;
  }
  // RING_FINAL_CHECK_FOR_RESPONSES: arms rsp_event; true if responses are already waiting.
  bool final_check_responses() {
    pages_.gather(raw());
    int more = 0;
    RING_FINAL_CHECK_FOR_RESPONSES(&front_, more);
    pages_.scatter(raw());
    return more != 0;
  }
  // The bytes of ring slot `idx` as the frontend sees them contiguously.
  blkif_request_t request_at(RING_IDX idx) {
    pages_.gather(raw());
    return *RING_GET_REQUEST(&front_, idx);
  }

 private:
  struct alignas(64) Shadow {
    std::byte bytes[kPage];
  };
  std::byte* raw() { return shadow_[0].bytes; }
  blkif_sring_t* sring() { return reinterpret_cast<blkif_sring_t*>(raw()); }

  FakePages pages_;
  std::unique_ptr<Shadow[]> shadow_;
  blkif_front_ring_t front_{};
};

// A request whose every byte depends on `n`, so a mis-copied straddling entry shows.
inline blkif_request_t make_request(std::uint32_t n) {
  blkif_request_t req;
  auto* bytes = reinterpret_cast<unsigned char*>(&req);
  for (std::size_t i = 0; i < sizeof(req); ++i) bytes[i] = static_cast<unsigned char>(n * 31 + i);
  req.id = 0x1000000000ull + n;
  return req;
}

inline bool same_bytes(const blkif_request_t& a, const blkif_request_t& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

}  // namespace kxen::xenbus::test
