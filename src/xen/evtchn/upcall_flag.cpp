#include "xen/evtchn/delivery.hpp"

#include <atomic>

#include "kxen/log.hpp"

namespace kxen {

static_assert(offsetof(vcpu_info, evtchn_upcall_pending) == 0, "upcall_pending is the first byte in both layouts");
static_assert(sizeof(vcpu_info) == 64);

std::optional<std::span<std::byte>> UpcallFlag::vcpu_info_of(std::uint32_t vcpu) const {
  const auto gpa = locator_.vcpu_info_gpa(vcpu);
  // 8-byte alignment keeps evtchn_pending_sel naturally aligned for atomic access.
  if (!gpa || (*gpa & 7) != 0) return std::nullopt;
  return memory_.span(*gpa, sizeof(vcpu_info));
}

void UpcallFlag::mark_pending(std::uint32_t vcpu, DeliveryEffects& fx) const {
  const auto info = vcpu_info_of(vcpu);
  if (!info) {
    // Without a vcpu_info the upcall still fires: the guest scans its pending bits anyway.
    fx.kick(vcpu);
    return;
  }
  std::atomic_ref<std::uint8_t> pending(*reinterpret_cast<std::uint8_t*>(info->data()));
  if (pending.exchange(1) == 0) fx.kick(vcpu);
}

}  // namespace kxen
