// The guest's Xen system time (ns, what its pvclock reads) and how it maps to host time.
// Two sources: KVM's kvmclock when KVM writes the pvclock (kvm-xen), or a TSC-based clock
// kxen publishes itself (hypercall-page transport).
#pragma once

#include "xen/time/pvclock.hpp"  // first: Xen headers need the interface version

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

namespace kxen {

class GuestClock {
 public:
  virtual ~GuestClock() = default;
  // Xen system time now, in ns. Thread-safe.
  virtual std::uint64_t now_ns() const = 0;
  // The pvclock kxen must write into vcpu_info and time areas; nullopt when KVM writes it.
  virtual std::optional<vcpu_time_info> pvclock() const { return std::nullopt; }
  // UTC at system time 0, for shared_info's wallclock.
  virtual Wallclock boot_wallclock() const;
  // When the host's steady clock (CLOCK_MONOTONIC) reaches guest time `ns`; now if passed.
  std::chrono::steady_clock::time_point host_deadline(std::uint64_t ns) const;
};

// Reads the counter the guest's TSC runs on: the host TSC (plus the VM's TSC offset).
using TickSource = std::function<std::uint64_t()>;

struct TscClockConfig {
  std::uint64_t tsc_khz = 0;       // the guest TSC's frequency (KVM_GET_TSC_KHZ)
  std::uint64_t guest_tsc_zero = 0;  // the guest TSC value at system time 0
  bool tsc_stable = false;          // the host trusts its TSC: PVCLOCK_TSC_STABLE_BIT
  TickSource guest_tsc;             // reads the guest TSC now
};

// System time = the guest TSC since guest_tsc_zero, scaled exactly as the published pvclock
// says, so kxen's deadlines and the guest's reading of its clock never disagree.
class TscClock final : public GuestClock {
 public:
  explicit TscClock(TscClockConfig config);
  std::uint64_t now_ns() const override;
  std::optional<vcpu_time_info> pvclock() const override;
  TscScale scale() const { return scale_; }

 private:
  TscClockConfig config_;
  TscScale scale_;
};

// System time read from elsewhere on each call (KVM_GET_CLOCK, a test's fake).
class SampledClock final : public GuestClock {
 public:
  explicit SampledClock(std::function<std::uint64_t()> read) : read_(std::move(read)) {}
  std::uint64_t now_ns() const override { return read_(); }

 private:
  std::function<std::uint64_t()> read_;
};

}  // namespace kxen
