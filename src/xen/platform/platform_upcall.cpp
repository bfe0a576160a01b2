// How an event reaches a vCPU under KVM's Xen support: whether KVM may raise ports itself (its
// timer writes 2-level bits), and how an upcall or a poll wake-up gets into the vCPU.
#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

namespace kxen {

bool XenPlatform::kvm_raises_ports() const { return accel_ && evtchn_->abi() == EventAbi::two_level; }

void XenPlatform::kick(std::uint32_t vcpu) {
  if (poll_) poll_->wake(vcpu);  // an event needs delivery: SCHEDOP_poll returns, as in Xen
  std::uint8_t vector = 0;
  {
    std::lock_guard lock(mutex_);
    if (vcpu < upcall_vector_.size()) vector = upcall_vector_[vcpu];
  }
  // KVM re-checks evtchn_upcall_pending on entry only for the global callback vector; a
  // per-vCPU vector must be put into the LAPIC (which also wakes a vCPU halted in KVM).
  if (vector != 0 && accel_ && accel_->inject_upcall_vector(vcpu, vector)) return;
  kicker_.kick_vcpu(vcpu);
}

void XenPlatform::wake_poller(std::uint32_t vcpu) {
  // KVM's in-kernel SCHEDOP_poll checks 2-level bits only: leaving KVM_RUN ends it. Without KVM,
  // user space's SCHEDOP_poll hears port_raised() instead.
  if (accel_) kicker_.kick_vcpu(vcpu);
}

}  // namespace kxen
