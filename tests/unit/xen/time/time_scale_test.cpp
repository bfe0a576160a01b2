// tsc_to_ns_scale and scale_delta: the pvclock arithmetic shared by the pvclock and CPUID.
#include "xen/time/time_scale.hpp"

#include <catch2/catch.hpp>

namespace kxen::test {

TEST_CASE("tsc_to_ns_scale turns one second of ticks into one second of ns", "[time]") {
  for (std::uint64_t hz : {25'000'000ull, 1'000'000'000ull, 2'000'000'000ull, 2'100'000'000ull, 2'400'000'000ull,
                           3'700'000'000ull, 10'000'000'000ull}) {
    const TscScale scale = tsc_to_ns_scale(hz);
    INFO("hz " << hz);
    CHECK(scale.mul_frac >= 0x80000000u);  // the most precise multiplier: its top bit set
    const std::uint64_t second = scale_delta(hz, scale);
    CHECK(second <= 1'000'000'000ull);
    CHECK(second >= 999'999'990ull);
    // An hour stays within a few µs: the multiplier's rounding, not drift.
    const std::uint64_t hour = scale_delta(hz * 3600, scale);
    CHECK(hour >= 3600'000'000'000ull - 10'000);
    CHECK(hour <= 3600'000'000'000ull);
  }
  CHECK(tsc_to_ns_scale(0).mul_frac == 0u);
}

TEST_CASE("tsc_to_ns_scale shifts right for GHz counters and left for slow ones", "[time]") {
  CHECK(tsc_to_ns_scale(2'100'000'000).shift == -1);  // this machine's TSC: 0.476 ns per tick
  CHECK(tsc_to_ns_scale(1'000'000'000).shift == 1);   // mul 2^31: exactly one ns per tick
  CHECK(tsc_to_ns_scale(1'000'000'000).mul_frac == 0x80000000u);
  CHECK(tsc_to_ns_scale(1'000'000).shift == 10);      // 1 MHz: 1000 ns per tick
  CHECK(scale_delta(7, tsc_to_ns_scale(1'000'000'000)) == 7);
  CHECK(scale_delta(3, tsc_to_ns_scale(1'000'000)) == 3000);
}

}  // namespace kxen::test
