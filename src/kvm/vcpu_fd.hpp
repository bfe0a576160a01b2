// A KVM vCPU file descriptor and its shared kvm_run area.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "kvm/fd.hpp"

namespace kxen {

class VcpuFd final {
 public:
  static std::expected<VcpuFd, std::string> create(Fd fd, std::size_t mmap_size);
  VcpuFd(VcpuFd&& other) noexcept;
  VcpuFd& operator=(VcpuFd&&) = delete;
  VcpuFd(const VcpuFd&) = delete;
  ~VcpuFd();

  // One KVM_RUN; returns errno (0 on success, EINTR when kicked).
  int run();
  kvm_run* run_area() const { return run_; }
  // Makes the next (or current) KVM_RUN return EINTR: safe from any thread.
  void request_immediate_exit() { __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST); }
  void clear_immediate_exit() { __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST); }

  std::expected<kvm_regs, std::string> regs() const;
  std::expected<void, std::string> set_regs(const kvm_regs& regs);
  std::expected<kvm_sregs, std::string> sregs() const;
  std::expected<void, std::string> set_sregs(const kvm_sregs& sregs);
  std::expected<void, std::string> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  std::expected<void, std::string> set_xen_attr(const kvm_xen_vcpu_attr& attr);
  std::expected<kvm_xen_vcpu_attr, std::string> xen_attr(std::uint16_t type) const;
  std::expected<void, std::string> set_mp_state(std::uint32_t state);
  std::expected<std::uint32_t, std::string> mp_state() const;
  std::expected<void, std::string> set_guest_debug(const kvm_guest_debug& debug);
  // x87/SSE state (KVM_GET_FPU / KVM_SET_FPU), for the debugger.
  std::expected<kvm_fpu, std::string> fpu() const;
  std::expected<void, std::string> set_fpu(const kvm_fpu& fpu);
  // TSC frequency in kHz as KVM runs this vCPU; 0 if unknown.
  std::uint32_t tsc_khz() const;
  // The guest's TSC now (MSR_IA32_TSC through KVM_GET_MSRS).
  std::expected<std::uint64_t, std::string> guest_tsc() const;
  // Maps [gpa, gpa + size) into KVM's stage-2 page tables now (KVM_PRE_FAULT_MEMORY).
  std::expected<void, std::string> pre_fault(std::uint64_t gpa, std::uint64_t size);
  int get() const { return fd_.get(); }

 private:
  VcpuFd(Fd fd, kvm_run* run, std::size_t size) : fd_(std::move(fd)), run_(run), mmap_size_(size) {}
  Fd fd_;
  kvm_run* run_ = nullptr;
  std::size_t mmap_size_ = 0;
};

}  // namespace kxen
