// OutputSink on pipes nobody reads: a write waits at most its stall limit, later ones not at all,
// and the descriptor kxen shares with its parent keeps its flags. [console]
#include "console/output_sink.hpp"
#include "console_test_util.hpp"

#include <fcntl.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <string>

using kxen::console::OutputSink;
using namespace kxen::console::test;
using namespace std::chrono_literals;

namespace {

// Runs `write` on another thread; if it has not returned within `limit`, reads the pipe until it
// does (so a test of a blocking write fails instead of hanging) and reports false.
bool returns_within(std::chrono::milliseconds limit, int read_end, const std::function<void()>& write) {
  auto done = std::async(std::launch::async, write);
  if (done.wait_for(limit) == std::future_status::ready) return true;
  while (done.wait_for(10ms) != std::future_status::ready) read_bytes(read_end, 1 << 20, 10ms);
  return false;
}

}  // namespace

TEST_CASE("output sink: a pipe nobody reads holds one write for the stall limit, then drops without waiting", "[console][threads]") {
  Pipe pipe;
  const int shared_flags = ::fcntl(pipe.write_end.get(), F_GETFL);
  constexpr auto kStall = 1000ms;
  OutputSink sink(pipe.write_end.get(), kStall);
  CHECK(::fcntl(pipe.write_end.get(), F_GETFL) == shared_flags);  // the shared descriptor stays blocking
  const std::string big(1 << 20, 'x');
  std::size_t written = 0;
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(returns_within(3s, pipe.read_end.get(), [&] { written = sink.write(big); }));
  CHECK(std::chrono::steady_clock::now() - started >= kStall);  // poll's timeout: a floor, not a race
  CHECK(written > 0);
  CHECK(written < big.size());
  std::size_t dropped = 1;
  // Still full: no second wait. Half the stall limit is far above a write that does not wait.
  CHECK(returns_within(kStall / 2, pipe.read_end.get(), [&] { dropped = sink.write("dropped"); }));
  CHECK(dropped == 0);
  CHECK_FALSE(sink.broken());
  CHECK(read_bytes(pipe.read_end.get(), written).size() == written);  // the reader catches up
  CHECK(sink.write("after") == 5);
  CHECK(read_bytes(pipe.read_end.get(), 5) == "after");
}
