#include "xen/time/vcpu_timers.hpp"

#include <algorithm>

namespace kxen {

void VcpuTimers::set_singleshot(std::uint32_t vcpu, std::uint64_t deadline_ns) {
  if (vcpu < timers_.size()) timers_[vcpu].singleshot = deadline_ns;
}

void VcpuTimers::stop_singleshot(std::uint32_t vcpu) {
  if (vcpu < timers_.size()) timers_[vcpu].singleshot.reset();
}

void VcpuTimers::set_periodic(std::uint32_t vcpu, std::uint64_t period_ns) {
  if (vcpu < timers_.size()) timers_[vcpu].period = period_ns;
}

void VcpuTimers::stop_periodic(std::uint32_t vcpu) {
  if (vcpu < timers_.size()) timers_[vcpu].period = 0;
}

std::optional<std::uint64_t> VcpuTimers::next_deadline() const {
  std::optional<std::uint64_t> next;
  auto consider = [&next](std::uint64_t t) { next = next ? std::min(*next, t) : t; };
  for (const Timers& t : timers_) {
    if (t.singleshot) consider(*t.singleshot);
    if (t.period != 0) consider(t.periodic_due());
  }
  return next;
}

std::vector<std::uint32_t> VcpuTimers::expire(std::uint64_t now) {
  std::vector<std::uint32_t> fired;
  for (std::uint32_t vcpu = 0; vcpu < timers_.size(); ++vcpu) {
    Timers& t = timers_[vcpu];
    bool fire = false;
    if (t.singleshot && *t.singleshot <= now) {
      t.singleshot.reset();
      fire = true;
    }
    // As Xen: the next tick is a period after this one, however late this one was.
    if (t.period != 0 && t.periodic_due() <= now) {
      t.last_tick = now;
      fire = true;
    }
    if (fire) fired.push_back(vcpu);
  }
  return fired;
}

}  // namespace kxen
