// The version-protected writes of vcpu_time_info and the shared_info wallclock into guest memory.
#pragma once

#include "xen/time/time_abi.hpp"  // first: Xen headers need the interface version

#include <cstdint>

#include "kxen/guest_memory.hpp"
#include "xen/time/time_scale.hpp"

namespace kxen {

struct Wallclock {
  std::uint64_t sec = 0;
  std::uint32_t nsec = 0;
};

// Writes `info` (its version ignored) at gpa with Xen's protocol: version made odd, fields,
// version made even. False if gpa is not one region of guest memory.
bool write_vcpu_time(GuestMemory& memory, Gpa gpa, const vcpu_time_info& info);
// Writes the wallclock (UTC at system time 0) into shared_info in the given layout, with
// the same version protocol on wc_version; wc_sec_hi only exists in the 64-bit layout.
bool write_wallclock(GuestMemory& memory, Gpa shared_info, bool long_mode, Wallclock wc);

}  // namespace kxen
