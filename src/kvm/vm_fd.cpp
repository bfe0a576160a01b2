#include "kvm/vm_fd.hpp"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <vector>

namespace kxen {

namespace {
std::unexpected<std::string> ioctl_error(const char* what) {
  return std::unexpected(fmt::format("{} failed: {}", what, std::strerror(errno)));
}
}  // namespace

int VmFd::check_extension(long cap) const {
  const int r = ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

std::expected<void, std::string> VmFd::set_memory_region(const MemoryRegion& region) {
  kvm_userspace_memory_region mr{};
  mr.slot = region.slot;
  mr.guest_phys_addr = region.gpa;
  mr.memory_size = region.size;
  mr.userspace_addr = reinterpret_cast<std::uint64_t>(region.host);
  if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &mr) < 0) return ioctl_error("KVM_SET_USER_MEMORY_REGION");
  return {};
}

std::expected<void, std::string> VmFd::remove_memory_region(std::uint32_t slot) {
  kvm_userspace_memory_region mr{};
  mr.slot = slot;  // size 0 deletes the slot
  if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &mr) < 0) return ioctl_error("KVM_SET_USER_MEMORY_REGION(delete)");
  return {};
}

std::expected<Fd, std::string> VmFd::create_vcpu(std::uint32_t id) {
  Fd vcpu(ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id)));
  if (!vcpu.valid()) return ioctl_error("KVM_CREATE_VCPU");
  return vcpu;
}

std::expected<void, std::string> VmFd::enable_cap(std::uint32_t cap, std::uint64_t arg0) {
  kvm_enable_cap ec{};
  ec.cap = cap;
  ec.args[0] = arg0;
  if (ioctl(fd_.get(), KVM_ENABLE_CAP, &ec) < 0) return ioctl_error("KVM_ENABLE_CAP");
  return {};
}

std::expected<void, std::string> VmFd::trap_msr_writes(std::span<const std::uint32_t> msrs) {
  if (check_extension(KVM_CAP_X86_USER_SPACE_MSR) == 0 || check_extension(KVM_CAP_X86_MSR_FILTER) == 0)
    return std::unexpected(std::string("this KVM cannot forward MSR writes to user space (KVM_CAP_X86_MSR_FILTER)"));
  if (auto r = enable_cap(KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER); !r) return r;
  if (msrs.size() > KVM_MSR_FILTER_MAX_RANGES) return std::unexpected(std::string("too many MSRs to filter"));
  // One single-MSR range per entry, bit clear = deny = exit to user space.
  kvm_msr_filter filter{};
  filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  std::vector<std::uint8_t> bitmaps(msrs.size(), 0);
  for (std::size_t i = 0; i < msrs.size(); ++i) {
    filter.ranges[i].flags = KVM_MSR_FILTER_WRITE;
    filter.ranges[i].base = msrs[i];
    filter.ranges[i].nmsrs = 1;
    filter.ranges[i].bitmap = &bitmaps[i];
  }
  if (ioctl(fd_.get(), KVM_X86_SET_MSR_FILTER, &filter) < 0) return ioctl_error("KVM_X86_SET_MSR_FILTER");
  return {};
}

std::expected<void, std::string> VmFd::set_xen_hvm_config(const kvm_xen_hvm_config& config) {
  if (ioctl(fd_.get(), KVM_XEN_HVM_CONFIG, &config) < 0) return ioctl_error("KVM_XEN_HVM_CONFIG");
  return {};
}

std::expected<void, std::string> VmFd::set_xen_attr(const kvm_xen_hvm_attr& attr) {
  if (ioctl(fd_.get(), KVM_XEN_HVM_SET_ATTR, &attr) < 0) return ioctl_error("KVM_XEN_HVM_SET_ATTR");
  return {};
}

std::expected<void, std::string> VmFd::xen_evtchn_send(std::uint32_t port, std::uint32_t vcpu) {
  kvm_irq_routing_xen_evtchn evtchn{};
  evtchn.port = port;
  evtchn.vcpu = vcpu;
  evtchn.priority = KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL;
  if (ioctl(fd_.get(), KVM_XEN_HVM_EVTCHN_SEND, &evtchn) < 0) return ioctl_error("KVM_XEN_HVM_EVTCHN_SEND");
  return {};
}

std::expected<void, std::string> VmFd::signal_msi(const kvm_msi& msi) {
  kvm_msi copy = msi;  // the ioctl takes a non-const pointer
  if (ioctl(fd_.get(), KVM_SIGNAL_MSI, &copy) < 0) return ioctl_error("KVM_SIGNAL_MSI");
  return {};
}

std::expected<void, std::string> VmFd::create_irqchip() {
  if (ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0) return ioctl_error("KVM_CREATE_IRQCHIP");
  return {};
}

std::expected<void, std::string> VmFd::create_pit() {
  kvm_pit_config config{};
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  if (ioctl(fd_.get(), KVM_CREATE_PIT2, &config) < 0) return ioctl_error("KVM_CREATE_PIT2");
  return {};
}

std::expected<void, std::string> VmFd::mask_legacy_pic() {
  for (std::uint32_t chip : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE}) {
    kvm_irqchip state{};
    state.chip_id = chip;
    if (ioctl(fd_.get(), KVM_GET_IRQCHIP, &state) < 0) return ioctl_error("KVM_GET_IRQCHIP");
    state.chip.pic.imr = 0xff;
    if (ioctl(fd_.get(), KVM_SET_IRQCHIP, &state) < 0) return ioctl_error("KVM_SET_IRQCHIP");
  }
  return {};
}

std::expected<kvm_clock_data, std::string> VmFd::clock() const {
  kvm_clock_data data{};
  if (ioctl(fd_.get(), KVM_GET_CLOCK, &data) < 0) return ioctl_error("KVM_GET_CLOCK");
  return data;
}

std::expected<void, std::string> VmFd::set_identity_map_addr(std::uint64_t gpa) {
  if (ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &gpa) < 0) return ioctl_error("KVM_SET_IDENTITY_MAP_ADDR");
  return {};
}

std::expected<void, std::string> VmFd::set_tss_addr(std::uint64_t gpa) {
  if (ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(gpa)) < 0) return ioctl_error("KVM_SET_TSS_ADDR");
  return {};
}

}  // namespace kxen
