// Xen's pvclock scale: ns = ((ticks << shift) * mul_frac) >> 32, a negative shift shifting right.
// Shared by the pvclock kxen publishes and the CPUID time leaf, so both tell the guest the same.
#pragma once

#include <cstdint>

namespace kxen {

struct TscScale {
  std::uint32_t mul_frac = 0;
  std::int8_t shift = 0;
};

// The scale for a counter of tsc_hz (mul_frac in [2^31, 2^32)); mul_frac 0 if tsc_hz is 0.
TscScale tsc_to_ns_scale(std::uint64_t tsc_hz);
// What the guest computes for `ticks` counter ticks.
std::uint64_t scale_delta(std::uint64_t ticks, TscScale scale);

}  // namespace kxen
