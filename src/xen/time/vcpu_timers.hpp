// Per-vCPU Xen timers as plain state: the singleshot timer (VCPUOP_set_singleshot_timer,
// set_timer_op) and the periodic timer (VCPUOP_set_periodic_timer), in guest system time.
// Not thread-safe: TimerService owns one and locks around it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace kxen {

class VcpuTimers final {
 public:
  explicit VcpuTimers(std::uint32_t vcpus) : timers_(vcpus) {}

  void set_singleshot(std::uint32_t vcpu, std::uint64_t deadline_ns);
  void stop_singleshot(std::uint32_t vcpu);
  // Xen's rule: the first tick comes one period after the previous tick (at once if none yet).
  void set_periodic(std::uint32_t vcpu, std::uint64_t period_ns);
  void stop_periodic(std::uint32_t vcpu);

  // The earliest armed deadline of any vCPU.
  std::optional<std::uint64_t> next_deadline() const;
  // Fires what is due at `now`: each vCPU appears once even if both of its timers were due.
  std::vector<std::uint32_t> expire(std::uint64_t now);

 private:
  struct Timers {
    std::optional<std::uint64_t> singleshot;
    std::uint64_t period = 0;       // 0 = periodic timer stopped
    std::uint64_t last_tick = 0;    // when the periodic timer last fired (Xen's periodic_last_event)
    std::uint64_t periodic_due() const { return last_tick + period; }
  };
  std::vector<Timers> timers_;
};

}  // namespace kxen
