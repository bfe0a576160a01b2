#include "kvm/vcpu_fd.hpp"

#include "kvm/kvm_flex.h"
#include "kvm/kvm_prefault.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <utility>

namespace kxen {

namespace {
std::unexpected<std::string> ioctl_error(const char* what) {
  return std::unexpected(fmt::format("{} failed: {}", what, std::strerror(errno)));
}
}  // namespace

std::expected<VcpuFd, std::string> VcpuFd::create(Fd fd, std::size_t mmap_size) {
  void* area = mmap(nullptr, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (area == MAP_FAILED) return ioctl_error("mmap(kvm_run)");
  return VcpuFd(std::move(fd), static_cast<kvm_run*>(area), mmap_size);
}

VcpuFd::VcpuFd(VcpuFd&& other) noexcept
    : fd_(std::move(other.fd_)), run_(std::exchange(other.run_, nullptr)), mmap_size_(other.mmap_size_) {}

VcpuFd::~VcpuFd() {
  if (run_) munmap(run_, mmap_size_);
}

int VcpuFd::run() { return ioctl(fd_.get(), KVM_RUN, 0) < 0 ? errno : 0; }

std::expected<kvm_regs, std::string> VcpuFd::regs() const {
  kvm_regs r{};
  if (ioctl(fd_.get(), KVM_GET_REGS, &r) < 0) return ioctl_error("KVM_GET_REGS");
  return r;
}

std::expected<void, std::string> VcpuFd::set_regs(const kvm_regs& r) {
  if (ioctl(fd_.get(), KVM_SET_REGS, &r) < 0) return ioctl_error("KVM_SET_REGS");
  return {};
}

std::expected<kvm_sregs, std::string> VcpuFd::sregs() const {
  kvm_sregs s{};
  if (ioctl(fd_.get(), KVM_GET_SREGS, &s) < 0) return ioctl_error("KVM_GET_SREGS");
  return s;
}

std::expected<void, std::string> VcpuFd::set_sregs(const kvm_sregs& s) {
  if (ioctl(fd_.get(), KVM_SET_SREGS, &s) < 0) return ioctl_error("KVM_SET_SREGS");
  return {};
}

std::expected<void, std::string> VcpuFd::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  const int r = kxen_kvm_set_cpuid2(fd_.get(), entries.data(), static_cast<std::uint32_t>(entries.size()));
  if (r < 0) return std::unexpected(fmt::format("KVM_SET_CPUID2 failed: {}", std::strerror(-r)));
  return {};
}

std::expected<void, std::string> VcpuFd::set_xen_attr(const kvm_xen_vcpu_attr& attr) {
  if (ioctl(fd_.get(), KVM_XEN_VCPU_SET_ATTR, &attr) < 0) return ioctl_error("KVM_XEN_VCPU_SET_ATTR");
  return {};
}

std::expected<kvm_xen_vcpu_attr, std::string> VcpuFd::xen_attr(std::uint16_t type) const {
  kvm_xen_vcpu_attr attr{};
  attr.type = type;
  if (ioctl(fd_.get(), KVM_XEN_VCPU_GET_ATTR, &attr) < 0) return ioctl_error("KVM_XEN_VCPU_GET_ATTR");
  return attr;
}

std::expected<void, std::string> VcpuFd::set_mp_state(std::uint32_t state) {
  kvm_mp_state mp{state};
  if (ioctl(fd_.get(), KVM_SET_MP_STATE, &mp) < 0) return ioctl_error("KVM_SET_MP_STATE");
  return {};
}

std::expected<std::uint32_t, std::string> VcpuFd::mp_state() const {
  kvm_mp_state mp{};
  if (ioctl(fd_.get(), KVM_GET_MP_STATE, &mp) < 0) return ioctl_error("KVM_GET_MP_STATE");
  return mp.mp_state;
}

std::expected<void, std::string> VcpuFd::set_guest_debug(const kvm_guest_debug& debug) {
  if (ioctl(fd_.get(), KVM_SET_GUEST_DEBUG, &debug) < 0) return ioctl_error("KVM_SET_GUEST_DEBUG");
  return {};
}

std::expected<kvm_fpu, std::string> VcpuFd::fpu() const {
  kvm_fpu f{};
  if (ioctl(fd_.get(), KVM_GET_FPU, &f) < 0) return ioctl_error("KVM_GET_FPU");
  return f;
}

std::expected<void, std::string> VcpuFd::set_fpu(const kvm_fpu& f) {
  if (ioctl(fd_.get(), KVM_SET_FPU, &f) < 0) return ioctl_error("KVM_SET_FPU");
  return {};
}

std::uint32_t VcpuFd::tsc_khz() const {
  const int r = ioctl(fd_.get(), KVM_GET_TSC_KHZ, 0);
  return r > 0 ? static_cast<std::uint32_t>(r) : 0;
}

std::expected<std::uint64_t, std::string> VcpuFd::guest_tsc() const {
  constexpr std::uint32_t kMsrIa32Tsc = 0x10;
  kvm_msr_entry entry{};
  entry.index = kMsrIa32Tsc;
  const int r = kxen_kvm_get_msrs(fd_.get(), &entry, 1);
  if (r < 0) return std::unexpected(fmt::format("KVM_GET_MSRS(IA32_TSC) failed: {}", std::strerror(-r)));
  return entry.data;
}

std::expected<void, std::string> VcpuFd::pre_fault(std::uint64_t gpa, std::uint64_t size) {
  kvm_pre_fault_memory range{};
  range.gpa = gpa;
  range.size = size;
  // KVM may stop after part of the range (it updates gpa and size) or on a signal: go on.
  while (range.size != 0) {
    if (ioctl(fd_.get(), KVM_PRE_FAULT_MEMORY, &range) < 0 && errno != EINTR && errno != EAGAIN)
      return std::unexpected(fmt::format("KVM_PRE_FAULT_MEMORY at {:#x} failed: {}", range.gpa, std::strerror(errno)));
  }
  return {};
}

}  // namespace kxen
