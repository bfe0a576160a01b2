// XenAccel over KVM's Xen support: VM attributes directly, vCPU attributes on each vCPU's thread.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "kvm/vcpu.hpp"
#include "kvm/vm_fd.hpp"
#include "xen/platform/xen_accel.hpp"

namespace kxen {

// The MSI that puts `vector` into one LAPIC (physical destination, fixed, edge), as KVM itself
// delivers a per-vCPU upcall; nullopt past the 8-bit xAPIC destination.
std::optional<kvm_msi> upcall_msi(std::uint32_t apic_id, std::uint8_t vector);

class KvmXenAccel final : public XenAccel {
 public:
  KvmXenAccel(VmFd& vm, std::vector<std::unique_ptr<Vcpu>>& vcpus) : vm_(vm), vcpus_(vcpus) {}

  bool set_long_mode(bool long_mode) override;
  bool set_shared_info(Gpa gpa) override;
  bool set_vcpu_info(std::uint32_t vcpu, Gpa gpa) override;
  bool set_vcpu_time_info(std::uint32_t vcpu, Gpa gpa) override;
  bool set_runstate_area(std::uint32_t vcpu, Gpa gpa) override;
  bool set_callback_vector(std::uint8_t vector) override;
  bool set_vcpu_upcall_vector(std::uint32_t vcpu, std::uint8_t vector) override;
  bool set_timer_port(std::uint32_t vcpu, std::uint32_t port) override;
  bool send_2level(std::uint32_t port, std::uint32_t vcpu) override;
  bool inject_upcall_vector(std::uint32_t vcpu, std::uint8_t vector) override;
  std::optional<vcpu_runstate_info> runstate_data(std::uint32_t vcpu) override;

  // The guest's EVTCHNOP_send on `port` signals `eventfd` inside KVM, with no exit (a backend's
  // kick); unroute_port hands the port back to user space.
  bool route_port(std::uint32_t port, int eventfd);
  // The guest's EVTCHNOP_send on IPI `port` raises that port on `vcpu` inside KVM (2-level only).
  bool route_ipi(std::uint32_t port, std::uint32_t vcpu);
  bool unroute_port(std::uint32_t port);

  // Per-vCPU set-up before the guest runs: Xen vCPU id = KVM index.
  bool set_vcpu_id(std::uint32_t vcpu);

 private:
  bool vcpu_attr(std::uint32_t vcpu, const kvm_xen_vcpu_attr& attr);
  bool vm_attr(const kvm_xen_hvm_attr& attr);

  VmFd& vm_;
  std::vector<std::unique_ptr<Vcpu>>& vcpus_;
};

}  // namespace kxen
