// What every backend queue's I/O thread sets up first.
#pragma once

#include <string_view>

namespace kxen {

// Names the calling thread after its queue's `label` ("blk xvda q0" -> "blk-xvda-q0", cut to
// the kernel's 15 characters), so top, perf and the benchmarks' per-thread CPU can tell queues apart.
void name_io_thread(std::string_view label);

}  // namespace kxen
