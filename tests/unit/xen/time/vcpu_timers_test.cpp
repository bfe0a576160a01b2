// VcpuTimers: singleshot and periodic deadlines per vCPU, expiry in guest time.
#include "xen/time/vcpu_timers.hpp"

#include <catch2/catch.hpp>

namespace kxen::test {

using Fired = std::vector<std::uint32_t>;

TEST_CASE("a singleshot timer fires once at its deadline", "[time]") {
  VcpuTimers t(2);
  CHECK_FALSE(t.next_deadline());
  t.set_singleshot(1, 500);
  CHECK(t.next_deadline() == 500u);
  CHECK(t.expire(499).empty());
  CHECK(t.expire(500) == Fired{1});
  CHECK(t.expire(10'000).empty());
  CHECK_FALSE(t.next_deadline());
}

TEST_CASE("re-arming replaces the singleshot deadline; stop cancels it", "[time]") {
  VcpuTimers t(2);
  t.set_singleshot(0, 100);
  t.set_singleshot(0, 300);
  CHECK(t.expire(200).empty());
  t.stop_singleshot(0);
  CHECK(t.expire(1000).empty());
  t.set_singleshot(0, 0);  // long past: due at the next look
  CHECK(t.expire(1) == Fired{0});
}

TEST_CASE("a periodic timer ticks a period after its previous tick", "[time]") {
  VcpuTimers t(1);
  t.set_periodic(0, 1000);
  CHECK(t.next_deadline() == 1000u);  // no tick yet: one period after time 0
  CHECK(t.expire(999).empty());
  CHECK(t.expire(1200) == Fired{0});
  CHECK(t.next_deadline() == 2200u);  // late ticks do not catch up
  CHECK(t.expire(2199).empty());
  CHECK(t.expire(2200) == Fired{0});
  t.stop_periodic(0);
  CHECK_FALSE(t.next_deadline());
  CHECK(t.expire(100'000).empty());
}

TEST_CASE("each vCPU fires once even with both timers due; out-of-range vCPUs are ignored", "[time]") {
  VcpuTimers t(3);
  t.set_singleshot(2, 50);
  t.set_periodic(2, 40);
  t.set_singleshot(0, 70);
  t.set_singleshot(3, 1);
  t.set_periodic(7, 1);
  CHECK(t.next_deadline() == 40u);
  CHECK(t.expire(60) == Fired{2});
  CHECK(t.expire(100) == Fired{0, 2});
}

}  // namespace kxen::test
