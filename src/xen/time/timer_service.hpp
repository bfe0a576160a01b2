// The VM's timer thread: waits for the earliest Xen timer deadline of any vCPU (guest system
// time, turned into host time through GuestClock) and fires the vCPUs whose timers are due.
//
// Lock order: TimerService::mutex_ is a leaf (GuestClock is read under it); `fire` runs
// without it, so it may raise event channels and kick vCPUs.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

#include "xen/time/guest_clock.hpp"
#include "xen/time/vcpu_timers.hpp"

namespace kxen {

class TimerService final {
 public:
  // Called on the timer thread for each expiry (the platform raises VIRQ_TIMER).
  using Fire = std::function<void(std::uint32_t vcpu)>;
  // Called once on the timer thread if it cannot go on (e.g. std::bad_alloc); the thread then
  // ends instead of taking the process down with std::terminate.
  using Failed = std::function<void(std::string_view what)>;

  TimerService(std::uint32_t vcpus, const GuestClock& clock, Fire fire, Failed failed = {});
  ~TimerService();  // stops and joins the thread
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  const GuestClock& clock() const { return clock_; }
  void set_singleshot(std::uint32_t vcpu, std::uint64_t deadline_ns);
  void stop_singleshot(std::uint32_t vcpu);
  void set_periodic(std::uint32_t vcpu, std::uint64_t period_ns);
  void stop_periodic(std::uint32_t vcpu);
  // No timer fires after this returns (except one already being fired); idempotent.
  void stop();

 private:
  template <class F>
  void change(F&& f) {
    {
      std::lock_guard lock(mutex_);
      f(timers_);
    }
    changed_.notify_all();
  }
  void run();
  void loop();

  const GuestClock& clock_;
  Fire fire_;
  Failed failed_;
  std::mutex mutex_;
  std::condition_variable changed_;
  VcpuTimers timers_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace kxen
