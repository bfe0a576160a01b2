// TscClock: system time from the guest TSC, the pvclock it publishes, and host deadlines.
#include "time_fakes.hpp"

#include <chrono>
#include <ctime>

namespace kxen::test {

TEST_CASE("TscClock reads the guest TSC the way the guest reads its pvclock", "[time]") {
  FakeTsc tsc;
  CHECK(tsc.clock.now_ns() == 0);
  tsc.set_ns(1'500'000);
  CHECK(tsc.clock.now_ns() == 1'500'000u);
  const auto pv = tsc.clock.pvclock();
  REQUIRE(pv);
  // What a guest computes from the published fields at the same TSC value.
  const TscScale scale{pv->tsc_to_system_mul, pv->tsc_shift};
  CHECK(pv->system_time + scale_delta(tsc.ticks.load() - pv->tsc_timestamp, scale) == tsc.clock.now_ns());
  CHECK(pv->tsc_timestamp == FakeTsc::kZero);
  CHECK(pv->flags == 0);  // the fake does not claim a stable TSC
  tsc.ticks = FakeTsc::kZero - 5;  // another CPU's TSC a little behind: time 0, not 2^64 ticks
  CHECK(tsc.clock.now_ns() == 0);
}

TEST_CASE("TscClock sets PVCLOCK_TSC_STABLE_BIT only when told the TSC is stable", "[time]") {
  TscClockConfig config;
  config.tsc_khz = 2'100'000;
  config.tsc_stable = true;
  config.guest_tsc = [] { return std::uint64_t{0}; };
  TscClock clock(config);
  REQUIRE(clock.pvclock());
  CHECK(clock.pvclock()->flags == XEN_PVCLOCK_TSC_STABLE_BIT);
  CHECK(clock.pvclock()->tsc_shift == -1);
}

TEST_CASE("SampledClock publishes no pvclock: KVM writes it", "[time]") {
  SampledClock clock([] { return std::uint64_t{77}; });
  CHECK(clock.now_ns() == 77u);
  CHECK_FALSE(clock.pvclock());
}

TEST_CASE("host_deadline maps guest time onto the host's steady clock", "[time]") {
  using namespace std::chrono;
  FakeTsc tsc;
  tsc.set_ns(1'000'000'000);
  const auto before = steady_clock::now();
  const auto past = tsc.clock.host_deadline(5);
  const auto future = tsc.clock.host_deadline(1'250'000'000);
  const auto after = steady_clock::now();
  CHECK(past >= before);
  CHECK(past <= after);
  CHECK(future - before >= milliseconds(250));
  CHECK(future - after <= milliseconds(250));
  // "Never" does not overflow the steady clock.
  CHECK(tsc.clock.host_deadline(~std::uint64_t{0}) > after + hours(24 * 365));
}

TEST_CASE("boot_wallclock is the UTC time at system time 0", "[time]") {
  FakeTsc tsc;
  tsc.set_ns(30'000'000'000);  // 30 s since boot
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  const Wallclock wc = tsc.clock.boot_wallclock();
  CHECK(wc.nsec < 1'000'000'000u);
  const auto boot_sec = static_cast<std::int64_t>(wc.sec);
  CHECK(boot_sec >= real.tv_sec - 31);
  CHECK(boot_sec <= real.tv_sec - 29);
}

}  // namespace kxen::test
