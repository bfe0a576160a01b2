#include <catch2/catch.hpp>

#include <linux/kvm.h>

#include <string>

#include "kvm/exit_stats.hpp"

using namespace kxen;
using namespace std::chrono_literals;

TEST_CASE("exit stats split time by phase and list the busiest reasons first", "[kvm][stats]") {
  ExitStats stats;
  for (int i = 0; i < 3; ++i) stats.count_exit(KVM_EXIT_XEN);
  stats.count_exit(KVM_EXIT_IO);
  stats.add(ExitStats::Phase::guest, 1500ms);
  stats.add(ExitStats::Phase::guest, 500ms);
  stats.add(ExitStats::Phase::handling, 250ms);
  stats.add(ExitStats::Phase::halted, 1s);
  CHECK(stats.exits() == 4);
  CHECK(stats.time_in(ExitStats::Phase::guest) == 2s);
  const auto line = stats.summary();
  CHECK(line.find("4 exits; 2.000 s in KVM_RUN, 0.250 s handling exits, 1.000 s halted") == 0);
  CHECK(line.find("by reason: xen 3, io 1") != std::string::npos);
}

TEST_CASE("exit stats keep guest-chosen numbers in bounded buckets", "[kvm][stats]") {
  ExitStats stats;
  // A hostile guest cycling through numbers and sub-ops must not grow the tables without end.
  for (std::uint64_t i = 0; i < 100000; ++i) {
    stats.count_hypercall(1000 + i, i);
    stats.count_hypercall(32, i);           // event_channel_op: sub-ops beyond any real one fold
    stats.count_hypercall(15, i);           // set_timer_op: its argument is a time, not a sub-op
  }
  CHECK(stats.hypercalls(64) == 100000);   // every out-of-range number in one bucket
  CHECK(stats.hypercalls(32) == 100000);
  CHECK(stats.hypercalls(15) == 100000);
  const auto line = stats.summary();
  CHECK(line.find("out-of-range 100000") != std::string::npos);
  CHECK(line.find("set_timer_op 100000") != std::string::npos);
  CHECK(line.find("event_channel_op/other 99936") != std::string::npos);
  CHECK(line.find("+") != std::string::npos);  // 64 small sub-ops of event_channel_op folded
}
