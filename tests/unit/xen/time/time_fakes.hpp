// Shared fixtures for the time unit tests: a settable guest TSC behind a real TscClock.
#pragma once

#include "xen/time/guest_clock.hpp"  // first: Xen headers need the interface version

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>

namespace kxen::test {

// A guest TSC at 1 GHz (one tick per ns) that tests move by hand; system time 0 at tick 1000.
struct FakeTsc {
  static constexpr std::uint64_t kZero = 1000;
  std::atomic<std::uint64_t> ticks{kZero};
  TscClock clock{make_config()};

  void set_ns(std::uint64_t ns) { ticks = kZero + ns; }
  void advance_ns(std::uint64_t ns) { ticks += ns; }

 private:
  TscClockConfig make_config() {
    TscClockConfig config;
    config.tsc_khz = 1'000'000;
    config.guest_tsc_zero = kZero;
    config.guest_tsc = [this] { return ticks.load(); };
    return config;
  }
};

}  // namespace kxen::test
