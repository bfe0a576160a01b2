// Xen time in user space: the timer hypercalls KVM does not serve (VCPUOP_*_timer,
// set_timer_op), VCPUOP_get_runstate_info, and the pvclock and wallclock kxen publishes
// itself when KVM does not write them.
#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

#include <xen/errno.h>
#include <xen/vcpu.h>

#include "kxen/log.hpp"

namespace kxen {

namespace {
constexpr std::uint64_t kMinPeriodNs = 1'000'000;            // Xen: MILLISECS(1)
constexpr std::uint64_t kMaxDeltaNs = ~std::uint64_t{0} >> 2;  // Xen: STIME_DELTA_MAX
constexpr std::uint64_t kHugeTimeoutFallbackNs = 100'000'000;  // Xen: MILLISECS(100)
constexpr unsigned kHugeTimeoutShift = 50;                     // Xen: "about 13 days"
// Both callers lay out timeout_abs_ns then flags; only a 64-bit caller pads the struct to 16.
constexpr std::size_t kSingleshotBytes = offsetof(vcpu_set_singleshot_timer, flags) + sizeof(std::uint32_t);
static_assert(sizeof(vcpu_set_periodic_timer) == 8);
}  // namespace

std::optional<HypercallOutcome> XenPlatform::vcpu_time_op(const HypercallRequest& request, GuestVirtual& gva) {
  const auto vcpu = static_cast<std::uint32_t>(request.args[1]);
  const std::uint64_t arg = request.args[2];
  switch (request.args[0]) {
    case VCPUOP_set_singleshot_timer: return HypercallOutcome{set_singleshot(request, gva)};
    case VCPUOP_stop_singleshot_timer:
      if (vcpu != request.vcpu) return HypercallOutcome{-XEN_EINVAL};  // Xen: only on yourself
      timers_->stop_singleshot(vcpu);
      return HypercallOutcome{0};
    case VCPUOP_set_periodic_timer: return HypercallOutcome{set_periodic(vcpu, arg, gva)};
    case VCPUOP_stop_periodic_timer: timers_->stop_periodic(vcpu); return HypercallOutcome{0};
    case VCPUOP_get_runstate_info: return HypercallOutcome{get_runstate_info(vcpu, arg, request.long_mode, gva)};
    default: return std::nullopt;
  }
}

std::int64_t XenPlatform::set_singleshot(const HypercallRequest& request, GuestVirtual& gva) {
  const auto vcpu = static_cast<std::uint32_t>(request.args[1]);
  if (vcpu != request.vcpu) return -XEN_EINVAL;  // Xen: a vCPU arms only its own singleshot timer
  vcpu_set_singleshot_timer set{};
  if (!gva.read(request.args[2], std::as_writable_bytes(std::span(&set, 1)).first(kSingleshotBytes)))
    return -XEN_EFAULT;
  // Without the flag a past deadline fires at once: Linux relies on getting that event.
  if ((set.flags & VCPU_SSHOTTMR_future) && set.timeout_abs_ns < clock_.now_ns()) return -XEN_ETIME;
  timers_->set_singleshot(vcpu, set.timeout_abs_ns);
  return 0;
}

std::int64_t XenPlatform::set_periodic(std::uint32_t vcpu, std::uint64_t arg, GuestVirtual& gva) {
  auto set = gva.read_obj<vcpu_set_periodic_timer>(arg);
  if (!set) return -XEN_EFAULT;
  if (set->period_ns < kMinPeriodNs || set->period_ns > kMaxDeltaNs) return -XEN_EINVAL;
  timers_->set_periodic(vcpu, set->period_ns);
  return 0;
}

HypercallOutcome XenPlatform::set_timer_op(const HypercallRequest& request) {
  // A 32-bit caller passes the s_time_t in two registers, low half first.
  const std::uint64_t raw = request.long_mode ? request.args[0] : request.args[0] | (request.args[1] << 32);
  const auto timeout = static_cast<std::int64_t>(raw);
  if (timeout == 0) {
    timers_->stop_singleshot(request.vcpu);
    return {0};
  }
  const auto now = static_cast<std::int64_t>(clock_.now_ns());
  // Both non-negative when subtracted: a guest's INT64_MIN cannot overflow it (fuzz_hypercalls).
  const std::int64_t offset = timeout < 0 ? 0 : timeout - now;
  // Xen's workaround for wrapped jiffies: a negative or ~13-day timeout fires in 100 ms instead.
  if (timeout < 0 || (offset > 0 && (static_cast<std::uint64_t>(offset) >> kHugeTimeoutShift) != 0)) {
    KXEN_GUEST_WARN("xen: vcpu{}: huge timeout {:#x} for set_timer_op, firing in 100 ms", request.vcpu, raw);
    timers_->set_singleshot(request.vcpu, static_cast<std::uint64_t>(now) + kHugeTimeoutFallbackNs);
    return {0};
  }
  timers_->set_singleshot(request.vcpu, raw);
  return {0};
}

std::int64_t XenPlatform::get_runstate_info(std::uint32_t vcpu, std::uint64_t arg, bool long_mode, GuestVirtual& gva) {
  std::optional<vcpu_runstate_info> info;
  // KVM keeps the runstate when it runs the vCPU's halts and polls; kxen's own view otherwise.
  if (accel_) info = accel_->runstate_data(vcpu);
  if (info) {
    info = runstate_as_of(*info, clock_.now_ns());
  } else {
    info = runstates_.get(vcpu);
  }
  const auto bytes = encode_runstate(*info, long_mode);
  return gva.write(arg, bytes) ? 0 : -XEN_EFAULT;
}

void XenPlatform::vcpu_runstate(std::uint32_t vcpu, int state) { runstates_.enter(vcpu, state); }

VcpuXenState XenPlatform::vcpu_state(std::uint32_t vcpu) const {
  VcpuXenState state;
  if (vcpu >= config_.vcpus) return state;
  state.runstate = runstates_.get(vcpu);
  std::lock_guard lock(mutex_);
  if (vcpu < vcpu_info_gpa_.size()) state.vcpu_info = vcpu_info_gpa_[vcpu];
  if (vcpu < upcall_vector_.size()) state.upcall_vector = upcall_vector_[vcpu];
  if (vcpu < timer_port_.size()) state.timer_port = timer_port_[vcpu];
  return state;
}

void XenPlatform::publish_pvclock(std::uint32_t vcpu) {
  const auto pvclock = clock_.pvclock();
  if (!pvclock) return;  // KVM writes it
  std::optional<Gpa> time_area;
  {
    std::lock_guard lock(mutex_);
    time_area = time_area_gpa_[vcpu];
  }
  if (auto info = vcpu_info_gpa(vcpu)) write_vcpu_time(memory_, *info + kVcpuInfoTimeOffset, *pvclock);
  if (time_area) write_vcpu_time(memory_, *time_area, *pvclock);
}

void XenPlatform::publish_wallclock() {
  if (!clock_.pvclock()) return;  // KVM writes it
  const auto shared_info = shared_info_gpa();
  if (shared_info) write_wallclock(memory_, *shared_info, shared_info_64bit(), clock_.boot_wallclock());
}

}  // namespace kxen
