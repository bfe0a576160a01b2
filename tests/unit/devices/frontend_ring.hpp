// For test frontends whose rings a backend thread serves concurrently: their event channel, the barriers
// xen/io/ring.h leaves to its includer (interface versions >= 0x00030208), and collecting
// responses as a frontend does, woken by its event channel's eventfd.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "xenbus/backend.hpp"

#ifndef xen_mb
#define xen_mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define xen_rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define xen_wmb() std::atomic_thread_fence(std::memory_order_release)
#endif

namespace kxen::test {

// ring.h's macros touch the shared indexes with plain accesses; the backend under test uses
// atomics on them, so the test frontends do too (TSan sees the release/acquire pairs; it does
// not model the bare fences of xen_mb()).
inline std::atomic_ref<RING_IDX> shared_index(RING_IDX& index) { return std::atomic_ref<RING_IDX>(index); }

// RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publishes the private producer; true if the backend
// asked for a kick (req_event passed).
template <typename FrontRing>
bool push_requests(FrontRing& ring) {
  const RING_IDX old = shared_index(ring.sring->req_prod).load(std::memory_order_relaxed);
  const RING_IDX now = ring.req_prod_pvt;
  shared_index(ring.sring->req_prod).store(now, std::memory_order_seq_cst);
  const RING_IDX event = shared_index(ring.sring->req_event).load(std::memory_order_seq_cst);
  return static_cast<RING_IDX>(now - event) < static_cast<RING_IDX>(now - old);
}

// A backend's event channel in a test: kicks arrive on the `kick` eventfd, and the backend's
// notifications are written to the frontend's `frontend` eventfd.
class TestChannel final : public xenbus::EventChannel {
 public:
  TestChannel(int kick, int frontend) : kick_(kick), frontend_(frontend) {}
  int eventfd() const override { return kick_; }
  evtchn_port_t frontend_port() const override { return 5; }
  bool notify() override {
    const std::uint64_t one = 1;
    return ::write(frontend_, &one, sizeof one) == sizeof one;
  }

 private:
  int kick_, frontend_;
};

// Waits up to 5 s (polling `event_fd`) until `count` responses arrived on the front ring `ring`
// (a FRONT_RING of Rsp); REQUIREs that many.
template <typename Rsp, typename FrontRing>
std::vector<Rsp> wait_responses(FrontRing& ring, int event_fd, std::size_t count) {
  std::vector<Rsp> out;
  for (int round = 0; out.size() < count && round < 500; ++round) {
    pollfd p{event_fd, POLLIN, 0};
    ::poll(&p, 1, 10);
    std::uint64_t drained;
    [[maybe_unused]] auto n = ::read(event_fd, &drained, sizeof drained);
    bool more = false;
    do {
      const RING_IDX prod = shared_index(ring.sring->rsp_prod).load(std::memory_order_acquire);
      for (; ring.rsp_cons != prod; ++ring.rsp_cons) out.push_back(*RING_GET_RESPONSE(&ring, ring.rsp_cons));
      // RING_FINAL_CHECK_FOR_RESPONSES: ask for the next event, then look once more.
      shared_index(ring.sring->rsp_event).store(ring.rsp_cons + 1, std::memory_order_seq_cst);
      more = shared_index(ring.sring->rsp_prod).load(std::memory_order_seq_cst) != ring.rsp_cons;
    } while (more);
  }
  REQUIRE(out.size() == count);
  return out;
}

}  // namespace kxen::test
