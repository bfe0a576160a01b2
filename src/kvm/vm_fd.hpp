// A KVM VM file descriptor: memory slots, vCPU creation, Xen and MSR-filter configuration.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "kvm/fd.hpp"
#include "kxen/guest_memory.hpp"

namespace kxen {

class VmFd final {
 public:
  explicit VmFd(Fd fd) : fd_(std::move(fd)) {}

  int get() const { return fd_.get(); }
  int check_extension(long cap) const;
  std::expected<void, std::string> set_memory_region(const MemoryRegion& region);
  std::expected<void, std::string> remove_memory_region(std::uint32_t slot);
  std::expected<Fd, std::string> create_vcpu(std::uint32_t id);
  std::expected<void, std::string> enable_cap(std::uint32_t cap, std::uint64_t arg0 = 0);
  // Sends writes of the listed MSRs to user space as KVM_EXIT_X86_WRMSR.
  std::expected<void, std::string> trap_msr_writes(std::span<const std::uint32_t> msrs);
  std::expected<void, std::string> set_xen_hvm_config(const kvm_xen_hvm_config& config);
  std::expected<void, std::string> set_xen_attr(const kvm_xen_hvm_attr& attr);
  // Raises a 2-level event channel port in-kernel (bits, upcall, poller wake-up).
  std::expected<void, std::string> xen_evtchn_send(std::uint32_t port, std::uint32_t vcpu);
  // Injects an MSI into the in-kernel LAPICs (KVM_SIGNAL_MSI); "blocked by the guest" is success.
  std::expected<void, std::string> signal_msi(const kvm_msi& msi);
  std::expected<void, std::string> create_irqchip();
  // KVM's PIT (ports 0x40-0x43, and 0x61 as a dummy speaker port); needs create_irqchip().
  std::expected<void, std::string> create_pit();
  // Masks every line of both legacy PICs, as firmware does for an OS that uses the IOAPIC.
  std::expected<void, std::string> mask_legacy_pic();
  // kvmclock: the guest's clock in ns (with kvm-xen, also its Xen system time).
  std::expected<kvm_clock_data, std::string> clock() const;
  std::expected<void, std::string> set_identity_map_addr(std::uint64_t gpa);
  std::expected<void, std::string> set_tss_addr(std::uint64_t gpa);

 private:
  Fd fd_;
};

}  // namespace kxen
