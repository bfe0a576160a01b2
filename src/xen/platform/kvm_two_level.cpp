#include "xen/platform/kvm_two_level.hpp"

namespace kxen {

SetPendingResult KvmTwoLevelDelivery::set_pending(const PortTarget& target, DeliveryEffects& fx) {
  // EventChannels records newly pending ports itself; this only chooses who sets the bits.
  const bool was_pending = user_.is_pending(target.port);
  // KVM sets the bits, the selector and the upcall, and wakes pollers; fall back if it cannot.
  if (!accel_.send_2level(target.port, target.vcpu)) return user_.set_pending(target, fx);
  return SetPendingResult{true, !was_pending};
}

}  // namespace kxen
