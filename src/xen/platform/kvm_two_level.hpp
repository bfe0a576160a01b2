// 2-level delivery that raises ports through KVM (KVM_XEN_HVM_EVTCHN_SEND), so the in-kernel
// timer, SCHEDOP_poll and upcall injection see one consistent state; reads and unmask stay in
// user space on the same shared_info bits. Only the active strategy raises ports: after
// EVTCHNOP_init_control nothing calls KVM_XEN_HVM_EVTCHN_SEND (FIFO raises in user space), after
// EVTCHNOP_reset this one does again. KVM intercepts EVTCHNOP_send only for ports handed to it
// with KVM_XEN_ATTR_TYPE_EVTCHN (backends' kicks, and IPIs while this ABI is active); every
// other send reaches EventChannels.
#pragma once

#include "xen/evtchn/two_level.hpp"
#include "xen/platform/xen_accel.hpp"

namespace kxen {

class KvmTwoLevelDelivery final : public PortDelivery {
 public:
  KvmTwoLevelDelivery(const GuestMemory& memory, const SharedInfoLocator& locator, XenAccel& accel)
      : user_(memory, locator), accel_(accel) {}

  EventAbi abi() const override { return EventAbi::two_level; }
  std::uint32_t port_limit() const override { return user_.port_limit(); }
  SetPendingResult set_pending(const PortTarget& target, DeliveryEffects& fx) override;
  void clear_pending(evtchn_port_t port) override { user_.clear_pending(port); }
  void unmask(const PortTarget& target, DeliveryEffects& fx) override { user_.unmask(target, fx); }
  bool is_pending(evtchn_port_t port) const override { return user_.is_pending(port); }
  bool is_masked(evtchn_port_t port) const override { return user_.is_masked(port); }

 private:
  TwoLevelDelivery user_;
  XenAccel& accel_;
};

}  // namespace kxen
