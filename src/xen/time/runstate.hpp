// vCPU runstate accounting in user space (when KVM does not keep it): the time each vCPU
// spent running, runnable, blocked and offline, and the guest's registered runstate areas
// (VCPUOP_register_runstate_memory_area), updated on every state change.
//
// Lock order: Runstates::mutex_ -> GuestMemory (leaf). GuestClock is read under it.
#pragma once

#include "xen/time/time_abi.hpp"  // first: Xen headers need the interface version

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "kxen/guest_memory.hpp"
#include "xen/time/guest_clock.hpp"

namespace kxen {

// Xen's vcpu_runstate_get on raw accounting: the current state's time grows until `now`.
vcpu_runstate_info runstate_as_of(vcpu_runstate_info info, std::uint64_t now);
// The guest's bytes for `info`: 48 bytes for a 64-bit guest, 44 (RunstateInfo32) for a 32-bit one.
std::vector<std::byte> encode_runstate(const vcpu_runstate_info& info, bool long_mode);

class Runstates final {
 public:
  // Every vCPU starts RUNSTATE_offline at the clock's current time, as Xen's vcpu_create.
  Runstates(std::uint32_t vcpus, const GuestClock& clock, GuestMemory& memory);

  // The vCPU enters `state` (RUNSTATE_*) now; a no-op if it is already in it.
  void enter(std::uint32_t vcpu, int state);
  // Xen's vcpu_runstate_get: the current state's time includes the time since it began.
  vcpu_runstate_info get(std::uint32_t vcpu) const;
  // Where the guest wants the vCPU's runstate kept (its layout: 64- or 32-bit); written now.
  void set_area(std::uint32_t vcpu, Gpa gpa, bool long_mode);
  // VMASST_TYPE_runstate_update_flag: mark state_entry_time while an area is being written.
  void set_update_flag(bool on);
  static std::uint64_t area_size(bool long_mode) {
    return long_mode ? sizeof(vcpu_runstate_info) : sizeof(RunstateInfo32);
  }

 private:
  struct Area {
    Gpa gpa = 0;
    bool long_mode = true;
  };
  void write_area_locked(std::uint32_t vcpu) const;

  const GuestClock& clock_;
  GuestMemory& memory_;
  mutable std::mutex mutex_;
  std::vector<vcpu_runstate_info> info_;  // times accumulated up to state_entry_time
  std::vector<std::optional<Area>> areas_;
  bool update_flag_ = false;
};

}  // namespace kxen
