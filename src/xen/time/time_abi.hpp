// Xen's time ABI (vcpu_time_info, wallclock, runstate) from the public headers, with the
// layout facts kxen relies on when it writes them into guest memory itself.
#pragma once

#include "xen/evtchn/delivery.hpp"  // first: it pins __XEN_INTERFACE_VERSION__ and includes <xen/xen.h>

#include <xen/vcpu.h>

#include <cstddef>
#include <cstdint>

namespace kxen {

static_assert(sizeof(vcpu_time_info) == 32);
// Both shared_info layouts keep vcpu_info at 64 bytes with the pvclock in its second half.
static_assert(offsetof(vcpu_info, time) == 32 && sizeof(vcpu_info) == 64);
inline constexpr std::size_t kVcpuInfoTimeOffset = offsetof(vcpu_info, time);
static_assert(sizeof(vcpu_runstate_info) == 48 && offsetof(vcpu_runstate_info, time) == 16);

// The wallclock fields of shared_info: the 64-bit layout from the header; in the 32-bit one
// the event bitmaps hold 32 words of 4 bytes, and wc_sec_hi lives in arch_shared_info.
inline constexpr std::size_t kWcVersionOffset64 = offsetof(shared_info, wc_version);
inline constexpr std::size_t kWcVersionOffset32 = XEN_LEGACY_MAX_VCPUS * sizeof(vcpu_info) + 2 * 32 * 4;
static_assert(offsetof(shared_info, wc_sec) == kWcVersionOffset64 + 4 &&
              offsetof(shared_info, wc_nsec) == kWcVersionOffset64 + 8 &&
              offsetof(shared_info, wc_sec_hi) == kWcVersionOffset64 + 12);

// A 32-bit guest's vcpu_runstate_info: uint64_t is 4-byte aligned there, so no padding after state.
struct [[gnu::packed]] RunstateInfo32 {
  std::int32_t state;
  std::uint64_t state_entry_time;
  std::uint64_t time[4];
};
static_assert(sizeof(RunstateInfo32) == 44);

}  // namespace kxen
