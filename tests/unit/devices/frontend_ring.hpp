// For test frontends whose rings a backend thread serves concurrently: the barriers
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

#ifndef xen_mb
#define xen_mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define xen_rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define xen_wmb() std::atomic_thread_fence(std::memory_order_release)
#endif

namespace kxen::test {

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
    int more = 0;
    do {
      const RING_IDX prod = ring.sring->rsp_prod;
      xen_rmb();
      for (; ring.rsp_cons != prod; ++ring.rsp_cons) out.push_back(*RING_GET_RESPONSE(&ring, ring.rsp_cons));
      RING_FINAL_CHECK_FOR_RESPONSES(&ring, more);
    } while (more);
  }
  REQUIRE(out.size() == count);
  return out;
}

}  // namespace kxen::test
