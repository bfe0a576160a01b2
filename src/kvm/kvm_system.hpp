// /dev/kvm: capability queries and VM creation.
#pragma once

#include <linux/kvm.h>

#include <expected>
#include <string>
#include <vector>

#include "kvm/fd.hpp"

namespace kxen {

class KvmSystem final {
 public:
  // Opens the device; the error text says what is wrong and how to fix it.
  static std::expected<KvmSystem, std::string> open(const std::string& path = "/dev/kvm");

  int check_extension(long cap) const;
  int max_vcpus() const;
  std::size_t vcpu_mmap_size() const;
  // Host CPUID leaves KVM can virtualise, as KVM_GET_SUPPORTED_CPUID reports them.
  std::expected<std::vector<kvm_cpuid_entry2>, std::string> supported_cpuid() const;
  // KVM_CAP_XEN_HVM flags (KVM_XEN_HVM_CONFIG_*); 0 when the kernel lacks CONFIG_KVM_XEN.
  unsigned xen_hvm_flags() const;
  std::expected<Fd, std::string> create_vm() const;

 private:
  explicit KvmSystem(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace kxen
