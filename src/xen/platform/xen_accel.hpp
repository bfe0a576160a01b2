// What KVM's Xen support does in-kernel for us; absent with the hypercall-page transport.
#pragma once

#include "xen/time/time_abi.hpp"  // first: Xen headers need the interface version

#include <cstdint>
#include <optional>

#include "kxen/guest_memory.hpp"

namespace kxen {

// Each returns false when the kernel refused; the caller turns that into a Xen error.
class XenAccel {
 public:
  virtual ~XenAccel() = default;
  // Which shared_info/vcpu_info layout KVM writes: Xen latches it from the guest's mode.
  virtual bool set_long_mode(bool long_mode) = 0;
  virtual bool set_shared_info(Gpa gpa) = 0;
  virtual bool set_vcpu_info(std::uint32_t vcpu, Gpa gpa) = 0;
  virtual bool set_vcpu_time_info(std::uint32_t vcpu, Gpa gpa) = 0;
  virtual bool set_runstate_area(std::uint32_t vcpu, Gpa gpa) = 0;
  // HVM_PARAM_CALLBACK_IRQ of type vector: one vector for every vCPU.
  virtual bool set_callback_vector(std::uint8_t vector) = 0;
  virtual bool set_vcpu_upcall_vector(std::uint32_t vcpu, std::uint8_t vector) = 0;
  // VIRQ_TIMER's port for a vCPU: KVM then serves the timer hypercalls in-kernel (0 = off).
  virtual bool set_timer_port(std::uint32_t vcpu, std::uint32_t port) = 0;
  // Raises a 2-level port in-kernel: pending bit, selector, upcall, poller wake-up.
  virtual bool send_2level(std::uint32_t port, std::uint32_t vcpu) = 0;
  // Delivers a per-vCPU upcall vector to the vCPU's LAPIC (an MSI), waking it if halted: KVM
  // itself only re-checks evtchn_upcall_pending for the global callback vector.
  virtual bool inject_upcall_vector(std::uint32_t vcpu, std::uint8_t vector) = 0;
  // KVM's runstate accounting for a vCPU, times as of state_entry_time; nullopt if refused.
  virtual std::optional<vcpu_runstate_info> runstate_data(std::uint32_t vcpu) = 0;
};

}  // namespace kxen
