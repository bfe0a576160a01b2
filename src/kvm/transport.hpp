// The two hypercall transports and the start-up choice between them.
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "kvm/vm_fd.hpp"

namespace kxen {

enum class TransportKind { kvm_xen, hypercall_page };
enum class TransportRequest { automatic, kvm_xen, hypercall_page };

// auto picks kvm-xen when KVM_CAP_XEN_HVM has INTERCEPT_HCALL; an explicit kvm-xen without it is an error.
std::expected<TransportKind, std::string> choose_transport(TransportRequest request, unsigned xen_hvm_flags);
std::string_view transport_name(TransportKind kind);
// One line for the start-up log: what guests this transport cannot serve.
std::string_view transport_limits(TransportKind kind);
std::expected<void, std::string> configure_transport(TransportKind kind, VmFd& vm);

}  // namespace kxen
