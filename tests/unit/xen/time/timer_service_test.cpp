// TimerService: the VM's timer thread, driven by a fake guest clock.
#include "time_fakes.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "xen/time/timer_service.hpp"

namespace kxen::test {
namespace {
using namespace std::chrono_literals;

// Records expiries from the timer thread; waits for them with a bound.
struct Expiries {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::uint32_t> vcpus;

  void fire(std::uint32_t vcpu) {
    {
      std::lock_guard lock(mutex);
      vcpus.push_back(vcpu);
    }
    cv.notify_all();
  }
  bool wait_for_count(std::size_t n, std::chrono::milliseconds limit = 2s) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, limit, [&] { return vcpus.size() >= n; });
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return vcpus.size();
  }
};
}  // namespace

TEST_CASE("TimerService fires a past singleshot at once and a future one when guest time gets there", "[time][threads]") {
  FakeTsc tsc;
  Expiries seen;
  TimerService timers(2, tsc.clock, [&](std::uint32_t v) { seen.fire(v); });
  tsc.set_ns(1'000'000);
  timers.set_singleshot(1, 10);  // already past
  REQUIRE(seen.wait_for_count(1));
  CHECK(seen.vcpus.front() == 1u);
  timers.set_singleshot(0, 1'000'000 + 3'000'000);  // 3 ms of guest time ahead
  std::this_thread::sleep_for(20ms);                // host time passes, guest time does not
  CHECK(seen.count() == 1);
  tsc.advance_ns(3'000'000);
  REQUIRE(seen.wait_for_count(2));
  CHECK(seen.vcpus.back() == 0u);
}

TEST_CASE("TimerService: stopped timers stay silent, periodic ones repeat", "[time][threads]") {
  FakeTsc tsc;
  Expiries seen;
  TimerService timers(1, tsc.clock, [&](std::uint32_t v) { seen.fire(v); });
  timers.set_singleshot(0, 2'000'000);
  timers.stop_singleshot(0);
  tsc.set_ns(5'000'000);
  std::this_thread::sleep_for(20ms);
  CHECK(seen.count() == 0);
  timers.set_periodic(0, 1'000'000);
  REQUIRE(seen.wait_for_count(1));  // the first tick: more than a period since time 0
  for (int i = 2; i <= 4; ++i) {
    tsc.advance_ns(1'000'000);
    REQUIRE(seen.wait_for_count(static_cast<std::size_t>(i)));
  }
  timers.stop_periodic(0);
  tsc.advance_ns(10'000'000);
  std::this_thread::sleep_for(20ms);
  CHECK(seen.count() == 4);
}

TEST_CASE("TimerService follows real time through a real clock", "[time][threads]") {
  SampledClock clock([start = std::chrono::steady_clock::now()] {
    return static_cast<std::uint64_t>((std::chrono::steady_clock::now() - start).count());
  });
  Expiries seen;
  TimerService timers(1, clock, [&](std::uint32_t v) { seen.fire(v); });
  const auto armed = std::chrono::steady_clock::now();
  timers.set_singleshot(0, clock.now_ns() + 30'000'000);
  REQUIRE(seen.wait_for_count(1));
  CHECK(std::chrono::steady_clock::now() - armed >= 30ms);
}

TEST_CASE("TimerService::stop ends the thread and silences armed timers", "[time][threads]") {
  FakeTsc tsc;
  Expiries seen;
  auto timers = std::make_unique<TimerService>(1, tsc.clock, [&](std::uint32_t v) { seen.fire(v); });
  timers->set_singleshot(0, 1'000'000);
  timers->stop();
  tsc.set_ns(2'000'000);
  std::this_thread::sleep_for(20ms);
  CHECK(seen.count() == 0);
  timers.reset();  // joins without hanging
}

}  // namespace kxen::test

namespace kxen::test {

TEST_CASE("TimerService ends its thread with one report when it runs out of memory", "[time][threads]") {
  FakeTsc tsc;
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> failures;
  TimerService timers(
      1, tsc.clock, [](std::uint32_t) { throw std::bad_alloc(); },
      [&](std::string_view what) {
        {
          std::lock_guard lock(mutex);
          failures.emplace_back(what);
        }
        cv.notify_all();
      });
  timers.set_singleshot(0, 0);  // due at once: the expiry throws on the timer thread
  std::unique_lock lock(mutex);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(2), [&] { return !failures.empty(); }));
  CHECK(failures == std::vector<std::string>{"out of memory"});
  lock.unlock();
  timers.set_singleshot(0, 0);  // the thread is gone; the service still takes calls and joins
}

}  // namespace kxen::test
