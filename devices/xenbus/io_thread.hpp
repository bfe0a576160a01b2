// What every backend queue's I/O thread sets up first.
#pragma once

#include <string_view>

namespace kxen {

// Names the calling thread after its queue's `label` ("blk xvda q0" -> "blk-xvda-q0", cut to
// the kernel's 15 characters), so top, perf and the benchmarks' per-thread CPU can tell queues apart,
// and makes it SCHED_BATCH: a frontend's kick then does not preempt the vCPU that sent it on a
// shared CPU, so the guest queues more requests per pass (tests/bench/README.md: up to 3x at depth 32).
void prepare_io_thread(std::string_view label);

}  // namespace kxen
