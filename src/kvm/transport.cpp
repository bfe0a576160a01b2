#include "kvm/transport.hpp"

#include <linux/kvm.h>

#include <array>
#include <cstdint>

#include "kxen/hypercall.hpp"

namespace kxen {

namespace {
bool has_intercept(unsigned flags) { return (flags & KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL) != 0; }
}  // namespace

std::expected<TransportKind, std::string> choose_transport(TransportRequest request, unsigned xen_hvm_flags) {
  switch (request) {
    case TransportRequest::hypercall_page: return TransportKind::hypercall_page;
    case TransportRequest::kvm_xen:
      if (has_intercept(xen_hvm_flags)) return TransportKind::kvm_xen;
      return std::unexpected(std::string(
          "--transport kvm-xen: this host's KVM has no Xen hypercall interception (KVM_CAP_XEN_HVM lacks "
          "INTERCEPT_HCALL; it needs a kernel built with CONFIG_KVM_XEN, e.g. Debian's linux-image-6.12-amd64); "
          "use --transport hypercall-page, or run kxen inside tests/lab/run"));
    case TransportRequest::automatic: break;
  }
  return has_intercept(xen_hvm_flags) ? TransportKind::kvm_xen : TransportKind::hypercall_page;
}

std::string_view transport_name(TransportKind kind) {
  return kind == TransportKind::kvm_xen ? "kvm-xen" : "hypercall-page";
}

std::string_view transport_limits(TransportKind kind) {
  if (kind == TransportKind::kvm_xen) return "serves every guest (VMCALL/VMMCALL and hypercall page)";
  return "serves only guests that use the hypercall page (GRUB PVH, Mini-OS, unikernels, old Linux); "
         "Linux 6.1.x/6.12 call VMCALL directly and need kvm-xen";
}

std::expected<void, std::string> configure_transport(TransportKind kind, VmFd& vm) {
  if (kind == TransportKind::hypercall_page) {
    const std::array<std::uint32_t, 1> msrs{kHypercallMsr};
    return vm.trap_msr_writes(msrs);
  }
  kvm_xen_hvm_config config{};
  config.flags = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL;
  config.msr = kHypercallMsr;  // KVM writes the VMCALL/VMMCALL page itself on this MSR
  return vm.set_xen_hvm_config(config);
}

}  // namespace kxen
