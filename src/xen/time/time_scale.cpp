#include "xen/time/time_scale.hpp"

namespace kxen {

TscScale tsc_to_ns_scale(std::uint64_t tsc_hz) {
  if (tsc_hz == 0) return {};
  constexpr std::uint64_t kNsPerSec = 1'000'000'000;
  std::uint64_t hz = tsc_hz;
  int shift = 0;
  while (hz > 2 * kNsPerSec) { hz >>= 1; --shift; }
  while (hz <= kNsPerSec) { hz <<= 1; ++shift; }  // now 1e9 < hz <= 2e9, so mul_frac < 2^32
  return {static_cast<std::uint32_t>((kNsPerSec << 32) / hz), static_cast<std::int8_t>(shift)};
}

std::uint64_t scale_delta(std::uint64_t ticks, TscScale scale) {
  if (scale.shift < 0) {
    ticks >>= -scale.shift;
  } else {
    ticks <<= scale.shift;
  }
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(ticks) * scale.mul_frac) >> 32);
}

}  // namespace kxen
