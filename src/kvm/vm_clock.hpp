// Builds the guest's Xen clock for a VM: KVM's kvmclock with kvm-xen (KVM writes the pvclock),
// or a TSC clock kxen publishes itself on the hypercall-page transport.
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "kvm/transport.hpp"
#include "kvm/vcpu_fd.hpp"
#include "kvm/vm_fd.hpp"
#include "xen/time/guest_clock.hpp"

namespace kxen {

// `boot` is a vCPU that has not run yet (its TSC is read once to anchor system time 0).
std::expected<std::unique_ptr<GuestClock>, std::string> make_guest_clock(TransportKind transport, const VmFd& vm,
                                                                         const VcpuFd& boot);

}  // namespace kxen
