#include "xen/time/pvclock.hpp"

#include <atomic>
#include <cstring>

namespace kxen {

namespace {
// Xen's version_update_begin/end: odd while the fields change, even once they are whole.
void bump_version(std::byte* version_field, bool begin) {
  std::atomic_ref<std::uint32_t> version(*reinterpret_cast<std::uint32_t*>(version_field));
  const std::uint32_t v = version.load(std::memory_order_relaxed);
  if (begin) {
    version.store((v + 1) | 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // odd version visible before any field
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // fields visible before the even version
    version.store((v + 1) & ~1u, std::memory_order_relaxed);
  }
}
}  // namespace

bool write_vcpu_time(GuestMemory& memory, Gpa gpa, const vcpu_time_info& info) {
  // 4-byte alignment keeps the version word atomic for the guest reading it concurrently.
  if ((gpa & 3) != 0) return false;
  auto area = memory.span(gpa, sizeof(vcpu_time_info));
  if (!area) return false;
  std::byte* base = area->data();
  bump_version(base + offsetof(vcpu_time_info, version), true);
  constexpr std::size_t body = offsetof(vcpu_time_info, tsc_timestamp);
  std::memcpy(base + body, reinterpret_cast<const std::byte*>(&info) + body, sizeof(info) - body);
  bump_version(base + offsetof(vcpu_time_info, version), false);
  return true;
}

bool write_wallclock(GuestMemory& memory, Gpa shared_info, bool long_mode, Wallclock wc) {
  const std::size_t offset = long_mode ? kWcVersionOffset64 : kWcVersionOffset32;
  auto fields = memory.span(shared_info + offset, 4 * sizeof(std::uint32_t));
  if (!fields || (shared_info & 3) != 0) return false;
  std::byte* base = fields->data();
  const std::uint32_t sec = static_cast<std::uint32_t>(wc.sec);
  const std::uint32_t sec_hi = static_cast<std::uint32_t>(wc.sec >> 32);
  bump_version(base, true);
  std::memcpy(base + 4, &sec, 4);
  std::memcpy(base + 8, &wc.nsec, 4);
  if (long_mode) std::memcpy(base + 12, &sec_hi, 4);
  bump_version(base, false);
  return true;
}

}  // namespace kxen
