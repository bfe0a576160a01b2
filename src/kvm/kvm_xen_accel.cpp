#include "kvm/kvm_xen_accel.hpp"

#include <spdlog/spdlog.h>

#include "kxen/log.hpp"

namespace kxen {

bool KvmXenAccel::vm_attr(const kvm_xen_hvm_attr& attr) {
  auto r = vm_.set_xen_attr(attr);
  // Guest hypercalls reach here (e.g. a time area KVM refuses): a guest repeating one must not flood the log.
  if (!r) KXEN_GUEST_WARN("kvm: xen attr {}: {}", attr.type, r.error());
  return r.has_value();
}

bool KvmXenAccel::vcpu_attr(std::uint32_t vcpu, const kvm_xen_vcpu_attr& attr) {
  if (vcpu >= vcpus_.size()) return false;
  return vcpus_[vcpu]->call_outside_run([&](VcpuFd& fd) {
    auto r = fd.set_xen_attr(attr);
    if (!r) KXEN_GUEST_WARN("kvm: vcpu{} xen attr {}: {}", vcpu, attr.type, r.error());
    return r.has_value();
  });
}

bool KvmXenAccel::set_long_mode(bool long_mode) {
  kvm_xen_hvm_attr attr{};
  attr.type = KVM_XEN_ATTR_TYPE_LONG_MODE;
  attr.u.long_mode = long_mode ? 1 : 0;
  return vm_attr(attr);
}

bool KvmXenAccel::set_shared_info(Gpa gpa) {
  kvm_xen_hvm_attr attr{};
  attr.type = KVM_XEN_ATTR_TYPE_SHARED_INFO;
  attr.u.shared_info.gfn = gpa >> kPageShift;
  return vm_attr(attr);
}

bool KvmXenAccel::set_callback_vector(std::uint8_t vector) {
  kvm_xen_hvm_attr attr{};
  attr.type = KVM_XEN_ATTR_TYPE_UPCALL_VECTOR;
  attr.u.vector = vector;
  return vm_attr(attr);
}

bool KvmXenAccel::route_port(std::uint32_t port, int eventfd) {
  kvm_xen_hvm_attr attr{};
  attr.type = KVM_XEN_ATTR_TYPE_EVTCHN;
  attr.u.evtchn.send_port = port;
  attr.u.evtchn.type = EVTCHNSTAT_interdomain;
  attr.u.evtchn.deliver.eventfd.port = 0;
  attr.u.evtchn.deliver.eventfd.fd = eventfd;
  return vm_attr(attr);
}

bool KvmXenAccel::route_ipi(std::uint32_t port, std::uint32_t vcpu) {
  kvm_xen_hvm_attr attr{};
  attr.type = KVM_XEN_ATTR_TYPE_EVTCHN;
  attr.u.evtchn.send_port = port;
  attr.u.evtchn.type = EVTCHNSTAT_ipi;
  attr.u.evtchn.deliver.port.port = port;  // KVM requires an IPI to come back on its own port
  attr.u.evtchn.deliver.port.vcpu = vcpu;
  attr.u.evtchn.deliver.port.priority = KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL;
  return vm_attr(attr);
}

bool KvmXenAccel::unroute_port(std::uint32_t port) {
  kvm_xen_hvm_attr attr{};
  attr.type = KVM_XEN_ATTR_TYPE_EVTCHN;
  attr.u.evtchn.send_port = port;
  attr.u.evtchn.flags = KVM_XEN_EVTCHN_DEASSIGN;
  return vm_attr(attr);
}

bool KvmXenAccel::send_2level(std::uint32_t port, std::uint32_t vcpu) {
  return vm_.xen_evtchn_send(port, vcpu).has_value();
}

std::optional<kvm_msi> upcall_msi(std::uint32_t apic_id, std::uint8_t vector) {
  constexpr std::uint32_t kMsiBase = 0xfee00000;  // the LAPIC MSI window
  constexpr unsigned kDestIdShift = 12;
  constexpr std::uint32_t kLevelAssert = 1u << 14;  // delivery mode fixed (0), edge trigger
  if (apic_id > 0xff) return std::nullopt;
  kvm_msi msi{};
  msi.address_lo = kMsiBase | (apic_id << kDestIdShift);
  msi.data = vector | kLevelAssert;
  return msi;
}

bool KvmXenAccel::inject_upcall_vector(std::uint32_t vcpu, std::uint8_t vector) {
  // kxen gives vCPU N the APIC ID N (CPUID and MADT), as KVM's own upcall injection assumes.
  const auto msi = upcall_msi(vcpu, vector);
  if (!msi || vcpu >= vcpus_.size()) return false;
  auto r = vm_.signal_msi(*msi);
  if (!r) KXEN_GUEST_WARN("kvm: vcpu{} upcall vector {:#x}: {}", vcpu, vector, r.error());
  return r.has_value();
}

bool KvmXenAccel::set_vcpu_id(std::uint32_t vcpu) {
  kvm_xen_vcpu_attr attr{};
  attr.type = KVM_XEN_VCPU_ATTR_TYPE_VCPU_ID;
  attr.u.vcpu_id = vcpu;
  return vcpu_attr(vcpu, attr);
}

bool KvmXenAccel::set_vcpu_info(std::uint32_t vcpu, Gpa gpa) {
  kvm_xen_vcpu_attr attr{};
  attr.type = KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO;
  attr.u.gpa = gpa;
  return vcpu_attr(vcpu, attr);
}

bool KvmXenAccel::set_vcpu_time_info(std::uint32_t vcpu, Gpa gpa) {
  kvm_xen_vcpu_attr attr{};
  attr.type = KVM_XEN_VCPU_ATTR_TYPE_VCPU_TIME_INFO;
  attr.u.gpa = gpa;
  return vcpu_attr(vcpu, attr);
}

bool KvmXenAccel::set_runstate_area(std::uint32_t vcpu, Gpa gpa) {
  kvm_xen_vcpu_attr attr{};
  attr.type = KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR;
  attr.u.gpa = gpa;
  return vcpu_attr(vcpu, attr);
}

bool KvmXenAccel::set_vcpu_upcall_vector(std::uint32_t vcpu, std::uint8_t vector) {
  kvm_xen_vcpu_attr attr{};
  attr.type = KVM_XEN_VCPU_ATTR_TYPE_UPCALL_VECTOR;
  attr.u.vector = vector;
  return vcpu_attr(vcpu, attr);
}

bool KvmXenAccel::set_timer_port(std::uint32_t vcpu, std::uint32_t port) {
  kvm_xen_vcpu_attr attr{};
  attr.type = KVM_XEN_VCPU_ATTR_TYPE_TIMER;
  attr.u.timer.port = port;  // 0 disables the in-kernel timer
  attr.u.timer.priority = KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL;
  attr.u.timer.expires_ns = 0;
  return vcpu_attr(vcpu, attr);
}

}  // namespace kxen

namespace kxen {

std::optional<vcpu_runstate_info> KvmXenAccel::runstate_data(std::uint32_t vcpu) {
  if (vcpu >= vcpus_.size()) return std::nullopt;
  std::optional<vcpu_runstate_info> out;
  vcpus_[vcpu]->call_outside_run([&](VcpuFd& fd) {
    auto attr = fd.xen_attr(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA);
    if (!attr) {
      spdlog::debug("kvm: vcpu{} runstate: {}", vcpu, attr.error());
      return false;
    }
    const auto& r = attr->u.runstate;
    vcpu_runstate_info info{};
    info.state = static_cast<int>(r.state);
    info.state_entry_time = r.state_entry_time;
    info.time[RUNSTATE_running] = r.time_running;
    info.time[RUNSTATE_runnable] = r.time_runnable;
    info.time[RUNSTATE_blocked] = r.time_blocked;
    info.time[RUNSTATE_offline] = r.time_offline;
    out = info;
    return true;
  });
  return out;
}

}  // namespace kxen
