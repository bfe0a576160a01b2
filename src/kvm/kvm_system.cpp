#include "kvm/kvm_system.hpp"

#include "kvm/kvm_flex.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace kxen {

namespace {
std::string open_error(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
      return fmt::format("{} not found: KVM is not available; load it (modprobe kvm_intel or kvm_amd) "
                         "and enable virtualization in the firmware", path);
    case EACCES:
    case EPERM:
      return fmt::format("{}: permission denied; run as root or add your user to the 'kvm' group", path);
    default:
      return fmt::format("{}: {}", path, std::strerror(err));
  }
}
}  // namespace

std::expected<KvmSystem, std::string> KvmSystem::open(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return std::unexpected(open_error(path, errno));
  const int version = ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION)
    return std::unexpected(fmt::format("{}: KVM API version {} is not the supported {}", path, version, KVM_API_VERSION));
  return KvmSystem(std::move(fd));
}

int KvmSystem::check_extension(long cap) const {
  const int r = ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

int KvmSystem::max_vcpus() const {
  const int max = check_extension(KVM_CAP_MAX_VCPUS);
  return max > 0 ? max : check_extension(KVM_CAP_NR_VCPUS);
}

std::size_t KvmSystem::vcpu_mmap_size() const {
  const int r = ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::expected<std::vector<kvm_cpuid_entry2>, std::string> KvmSystem::supported_cpuid() const {
  // Grow the buffer until KVM stops saying E2BIG; bounded so a broken kernel cannot loop us.
  int r = -E2BIG;
  for (std::uint32_t capacity = 128; capacity <= 4096 && r == -E2BIG; capacity *= 2) {
    std::vector<kvm_cpuid_entry2> entries(capacity);
    std::uint32_t count = capacity;
    r = kxen_kvm_get_supported_cpuid(fd_.get(), entries.data(), &count);
    if (r == 0) {
      entries.resize(count);
      return entries;
    }
  }
  return std::unexpected(fmt::format("KVM_GET_SUPPORTED_CPUID failed: {}", std::strerror(-r)));
}

unsigned KvmSystem::xen_hvm_flags() const {
  return static_cast<unsigned>(check_extension(KVM_CAP_XEN_HVM));
}

std::expected<Fd, std::string> KvmSystem::create_vm() const {
  // EINTR is possible while the kernel allocates a large VM; retry a few times.
  for (int attempt = 0; attempt < 5; ++attempt) {
    Fd vm(ioctl(fd_.get(), KVM_CREATE_VM, 0));
    if (vm.valid()) return vm;
    if (errno != EINTR) return std::unexpected(fmt::format("KVM_CREATE_VM failed: {}", std::strerror(errno)));
  }
  return std::unexpected(std::string("KVM_CREATE_VM kept being interrupted"));
}

}  // namespace kxen
