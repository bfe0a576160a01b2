#include "xen/time/timer_service.hpp"

#include <pthread.h>

#include <exception>
#include <new>

namespace kxen {

TimerService::TimerService(std::uint32_t vcpus, const GuestClock& clock, Fire fire, Failed failed)
    : clock_(clock), fire_(std::move(fire)), failed_(std::move(failed)), timers_(vcpus), thread_([this] { run(); }) {
  pthread_setname_np(thread_.native_handle(), "kxen-timers");
}

TimerService::~TimerService() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void TimerService::set_singleshot(std::uint32_t vcpu, std::uint64_t deadline_ns) {
  change([&](VcpuTimers& t) { t.set_singleshot(vcpu, deadline_ns); });
}

void TimerService::stop_singleshot(std::uint32_t vcpu) {
  change([&](VcpuTimers& t) { t.stop_singleshot(vcpu); });
}

void TimerService::set_periodic(std::uint32_t vcpu, std::uint64_t period_ns) {
  change([&](VcpuTimers& t) { t.set_periodic(vcpu, period_ns); });
}

void TimerService::stop_periodic(std::uint32_t vcpu) {
  change([&](VcpuTimers& t) { t.stop_periodic(vcpu); });
}

void TimerService::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
}

void TimerService::run() {
  try {
    loop();
  } catch (const std::exception& e) {
    // Out of memory here (fire's event delivery, expire's list) must stop the VM cleanly.
    const std::string_view what = dynamic_cast<const std::bad_alloc*>(&e) ? "out of memory" : e.what();
    if (failed_) failed_(what);
  }
}

void TimerService::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto next = timers_.next_deadline();
    if (!next) {
      changed_.wait(lock);
      continue;
    }
    const std::uint64_t now = clock_.now_ns();
    if (*next > now) {
      // Woken early by a change or by rounding: the loop looks at the guest clock again.
      changed_.wait_until(lock, clock_.host_deadline(*next));
      continue;
    }
    const auto fired = timers_.expire(now);
    lock.unlock();
    for (const std::uint32_t vcpu : fired) fire_(vcpu);
    lock.lock();
  }
}

}  // namespace kxen
