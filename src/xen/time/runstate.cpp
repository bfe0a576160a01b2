#include "xen/time/runstate.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace kxen {

vcpu_runstate_info runstate_as_of(vcpu_runstate_info info, std::uint64_t now) {
  // A state value a hostile or buggy source put out of range indexes nothing.
  if (now > info.state_entry_time && info.state >= 0 && info.state <= RUNSTATE_offline)
    info.time[info.state] += now - info.state_entry_time;
  return info;
}

std::vector<std::byte> encode_runstate(const vcpu_runstate_info& info, bool long_mode) {
  std::vector<std::byte> out(Runstates::area_size(long_mode));
  if (long_mode) {
    std::memcpy(out.data(), &info, sizeof(info));
    return out;
  }
  RunstateInfo32 compat{};
  compat.state = info.state;
  compat.state_entry_time = info.state_entry_time;
  for (int i = 0; i < 4; ++i) compat.time[i] = info.time[i];
  std::memcpy(out.data(), &compat, sizeof(compat));
  return out;
}

Runstates::Runstates(std::uint32_t vcpus, const GuestClock& clock, GuestMemory& memory)
    : clock_(clock), memory_(memory), info_(vcpus), areas_(vcpus) {
  const std::uint64_t now = clock_.now_ns();
  for (auto& info : info_) {
    info.state = RUNSTATE_offline;
    info.state_entry_time = now;
  }
}

void Runstates::enter(std::uint32_t vcpu, int state) {
  std::lock_guard lock(mutex_);
  if (vcpu >= info_.size() || info_[vcpu].state == state) return;
  vcpu_runstate_info& info = info_[vcpu];
  const std::uint64_t now = clock_.now_ns();
  if (now > info.state_entry_time) info.time[info.state] += now - info.state_entry_time;
  info.state = state;
  info.state_entry_time = std::max(now, info.state_entry_time);  // never backwards for the guest
  write_area_locked(vcpu);
}

vcpu_runstate_info Runstates::get(std::uint32_t vcpu) const {
  std::lock_guard lock(mutex_);
  return runstate_as_of(info_.at(vcpu), clock_.now_ns());
}

void Runstates::set_area(std::uint32_t vcpu, Gpa gpa, bool long_mode) {
  std::lock_guard lock(mutex_);
  if (vcpu >= areas_.size()) return;
  areas_[vcpu] = Area{gpa, long_mode};
  write_area_locked(vcpu);
}

void Runstates::set_update_flag(bool on) {
  std::lock_guard lock(mutex_);
  update_flag_ = on;
}

void Runstates::write_area_locked(std::uint32_t vcpu) const {
  if (!areas_[vcpu]) return;
  const Area& area = *areas_[vcpu];
  auto dest = memory_.span(area.gpa, area_size(area.long_mode));
  if (!dest) return;  // the page went away (ballooned): Xen's copy would fail silently too
  vcpu_runstate_info info = info_[vcpu];
  if (!update_flag_) {
    const auto bytes = encode_runstate(info, area.long_mode);
    std::memcpy(dest->data(), bytes.data(), bytes.size());
    return;
  }
  // Xen's protocol: the top byte of state_entry_time carries XEN_RUNSTATE_UPDATE while the rest changes.
  const std::size_t top = (area.long_mode ? offsetof(vcpu_runstate_info, state_entry_time)
                                          : offsetof(RunstateInfo32, state_entry_time)) + 7;
  std::atomic_ref<std::uint8_t> flag_byte(*reinterpret_cast<std::uint8_t*>(dest->data() + top));
  const auto updating = static_cast<std::uint8_t>((info.state_entry_time | XEN_RUNSTATE_UPDATE) >> 56);
  flag_byte.store(updating, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  info.state_entry_time |= XEN_RUNSTATE_UPDATE;
  const auto bytes = encode_runstate(info, area.long_mode);
  std::memcpy(dest->data(), bytes.data(), bytes.size());
  std::atomic_thread_fence(std::memory_order_seq_cst);
  flag_byte.store(static_cast<std::uint8_t>(info_[vcpu].state_entry_time >> 56), std::memory_order_relaxed);
}

}  // namespace kxen
