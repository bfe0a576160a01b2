// Event delivery contracts: where vcpu_info lives, how an upcall is injected, and the
// per-ABI (2-level / FIFO) strategy that sets, clears and unmasks guest-visible port state.
#pragma once

// One Xen interface version for every kxen translation unit (grant v2 needs >= 0x0003020a);
// Xen's public headers also expect the C fixed-width types to be declared first.
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif
#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kxen/guest_memory.hpp"

namespace kxen {

// Injects the event upcall into a vCPU (KVM upcall vector or callback IRQ). Implemented by Vm.
class UpcallSink {
 public:
  virtual ~UpcallSink() = default;
  virtual void kick(std::uint32_t vcpu) = 0;
  // A port became pending (even if masked): lets SCHEDOP_poll waiters re-check any_pending().
  virtual void port_raised(evtchn_port_t /*port*/) {}
  // A masked port of this vCPU became pending without an upcall: a poller there must return.
  virtual void wake_poller(std::uint32_t /*vcpu*/) {}
};

// Where the guest put shared_info and each vcpu_info (VCPUOP_register_vcpu_info or the
// legacy slots in shared_info). Implemented by Vm, faked in unit tests.
class SharedInfoLocator {
 public:
  virtual ~SharedInfoLocator() = default;
  virtual std::optional<Gpa> shared_info_gpa() const = 0;
  virtual std::optional<Gpa> vcpu_info_gpa(std::uint32_t vcpu) const = 0;
  // Xen latches a 32-bit shared_info layout for guests running in 32-bit mode.
  virtual bool shared_info_64bit() const { return true; }
};

// One port as the strategy needs it: whom to notify and at which FIFO priority.
struct PortTarget {
  evtchn_port_t port = 0;
  std::uint32_t vcpu = 0;
  std::uint8_t priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
};

// Side effects gathered under the EventChannels lock and carried out after it is dropped.
struct DeliveryEffects {
  std::vector<std::uint32_t> kicks;
  std::vector<evtchn_port_t> raised;
  std::vector<std::uint32_t> poll_wakes;
  void kick(std::uint32_t vcpu) { kicks.push_back(vcpu); }
  void wake_poller(std::uint32_t vcpu) { poll_wakes.push_back(vcpu); }
};

enum class EventAbi { two_level, fifo };

// Result of marking a port pending.
struct SetPendingResult {
  bool stored = true;         // false: no guest storage for the port yet (FIFO array too short)
  bool newly_pending = false; // the PENDING bit went 0 -> 1
};

// The ABI strategy (Xen's evtchn_port_ops). Called with the EventChannels lock held; must not
// call back into EventChannels. The in-kernel KVM 2-level path can be another implementation.
class PortDelivery {
 public:
  virtual ~PortDelivery() = default;
  virtual EventAbi abi() const = 0;
  virtual std::uint32_t port_limit() const = 0;
  virtual SetPendingResult set_pending(const PortTarget& target, DeliveryEffects& fx) = 0;
  virtual void clear_pending(evtchn_port_t port) = 0;
  virtual void unmask(const PortTarget& target, DeliveryEffects& fx) = 0;
  virtual bool is_pending(evtchn_port_t port) const = 0;
  virtual bool is_masked(evtchn_port_t port) const = 0;
  // FIFO: still LINKED in a guest queue, so the port must not be reused yet.
  virtual bool is_busy(evtchn_port_t /*port*/) const { return false; }
};

// Sets vcpu_info.evtchn_upcall_pending and requests a kick on its 0 -> 1 edge (Xen's
// vcpu_mark_events_pending); shared by both ABIs.
class UpcallFlag final {
 public:
  UpcallFlag(const GuestMemory& memory, const SharedInfoLocator& locator) : memory_(memory), locator_(locator) {}
  void mark_pending(std::uint32_t vcpu, DeliveryEffects& fx) const;
  // Checked host view of vcpu N's vcpu_info (8-byte aligned, one region); nullopt if unusable.
  std::optional<std::span<std::byte>> vcpu_info_of(std::uint32_t vcpu) const;

 private:
  const GuestMemory& memory_;
  const SharedInfoLocator& locator_;
};

}  // namespace kxen
