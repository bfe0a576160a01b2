#include "xen/time/guest_clock.hpp"

#include <algorithm>
#include <ctime>

namespace kxen {

namespace {
constexpr std::uint64_t kNsPerSec = 1'000'000'000;
// Further than this is "never": keeps steady_clock arithmetic far from overflow.
constexpr std::uint64_t kMaxWaitNs = 1ull << 62;
}  // namespace

Wallclock GuestClock::boot_wallclock() const {
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  const std::uint64_t since_boot = now_ns();
  const std::uint64_t real_ns = static_cast<std::uint64_t>(real.tv_sec) * kNsPerSec + static_cast<std::uint64_t>(real.tv_nsec);
  const std::uint64_t boot = real_ns > since_boot ? real_ns - since_boot : 0;
  return {boot / kNsPerSec, static_cast<std::uint32_t>(boot % kNsPerSec)};
}

std::chrono::steady_clock::time_point GuestClock::host_deadline(std::uint64_t ns) const {
  const auto host_now = std::chrono::steady_clock::now();
  const std::uint64_t now = now_ns();
  const std::uint64_t left = ns > now ? std::min(ns - now, kMaxWaitNs) : 0;
  return host_now + std::chrono::nanoseconds(static_cast<std::int64_t>(left));
}

TscClock::TscClock(TscClockConfig config) : config_(std::move(config)), scale_(tsc_to_ns_scale(config_.tsc_khz * 1000)) {}

std::uint64_t TscClock::now_ns() const {
  const std::uint64_t tsc = config_.guest_tsc();
  // A TSC read just before the zero point (another CPU's skew) is time 0, not 2^64 ticks.
  return tsc > config_.guest_tsc_zero ? scale_delta(tsc - config_.guest_tsc_zero, scale_) : 0;
}

std::optional<vcpu_time_info> TscClock::pvclock() const {
  vcpu_time_info info{};
  info.tsc_timestamp = config_.guest_tsc_zero;
  info.system_time = 0;
  info.tsc_to_system_mul = scale_.mul_frac;
  info.tsc_shift = scale_.shift;
  info.flags = config_.tsc_stable ? XEN_PVCLOCK_TSC_STABLE_BIT : 0;
  return info;
}

}  // namespace kxen
