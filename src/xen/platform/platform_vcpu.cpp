// vcpu_op: where each vCPU's vcpu_info, runstate and time areas live, and its timers.
#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

#include <xen/errno.h>
#include <xen/vcpu.h>

#include <expected>

#include "kxen/log.hpp"

namespace kxen {

namespace {
static_assert(sizeof(vcpu_register_vcpu_info) == 16);
static_assert(sizeof(vcpu_info) == 64);
// Both areas are registered as one guest pointer (64-bit `p`, or a 32-bit pointer).
std::optional<std::uint64_t> area_pointer(std::uint64_t arg, bool long_mode, GuestVirtual& gva) {
  if (long_mode) return gva.read_obj<std::uint64_t>(arg);
  auto p = gva.read_obj<std::uint32_t>(arg);
  return p ? std::optional<std::uint64_t>(*p) : std::nullopt;
}

// Where the guest-virtual bytes [pointer, pointer + size) live, translating every page they
// cover: -XEN_EFAULT if one is unmapped, -XEN_EINVAL if they are not physically contiguous,
// since KVM and Runstates write an area at one guest-physical address (Xen would write the
// second page where the guest mapped it; anything else writes bytes the guest did not give).
std::expected<Gpa, std::int64_t> translate_area(GuestVirtual& gva, std::uint64_t pointer, std::uint64_t size) {
  if (pointer + size < pointer) return std::unexpected(-XEN_EFAULT);
  const auto first = gva.translate(pointer, true);
  if (!first) return std::unexpected(-XEN_EFAULT);
  for (std::uint64_t page = (pointer | (kPageSize - 1)) + 1; page < pointer + size; page += kPageSize) {
    const auto next = gva.translate(page, true);
    if (!next) return std::unexpected(-XEN_EFAULT);
    if (*next != *first + (page - pointer)) {
      KXEN_GUEST_WARN("xen: area at {:#x} crosses into a page that is not physically next; refused", pointer);
      return std::unexpected(-XEN_EINVAL);
    }
  }
  return *first;
}
}  // namespace

HypercallOutcome XenPlatform::vcpu_op(const HypercallRequest& request, GuestVirtual& gva) {
  const std::uint64_t cmd = request.args[0];
  const std::uint64_t vcpu = request.args[1];
  const std::uint64_t arg = request.args[2];
  if (vcpu >= config_.vcpus) return {-XEN_ENOENT};
  const auto id = static_cast<std::uint32_t>(vcpu);
  switch (cmd) {
    case VCPUOP_register_vcpu_info: return {register_vcpu_info(id, arg, gva)};
    case VCPUOP_register_runstate_memory_area:
    case VCPUOP_register_vcpu_time_memory_area: {
      auto pointer = area_pointer(arg, request.long_mode, gva);
      if (!pointer) return {-XEN_EFAULT};
      return {register_area(id, static_cast<std::uint32_t>(cmd), *pointer, request.long_mode, gva)};
    }
    case VCPUOP_is_up: return {1};  // PVH vCPUs are brought up by INIT/SIPI; Xen reports them up
    default:
      // Timer calls get here only when KVM does not serve them (see kvm_raises_ports()).
      if (auto outcome = vcpu_time_op(request, gva)) return *outcome;
      return {-XEN_ENOSYS};
  }
}

std::int64_t XenPlatform::register_vcpu_info(std::uint32_t vcpu, std::uint64_t arg, GuestVirtual& gva) {
  auto op = gva.read_obj<vcpu_register_vcpu_info>(arg);
  if (!op) return -XEN_EFAULT;
  // The whole vcpu_info must sit inside one page of guest RAM (Xen's rule too).
  if (op->offset > kPageSize - sizeof(vcpu_info) || (op->offset & 7) != 0) return -XEN_EINVAL;
  if (op->mfn > (~std::uint64_t{0} >> kPageShift)) return -XEN_EINVAL;
  const Gpa gpa = (op->mfn << kPageShift) + op->offset;
  if (!memory_.is_ram(gpa, sizeof(vcpu_info))) return -XEN_EINVAL;
  {
    std::lock_guard lock(mutex_);
    if (vcpu_info_gpa_[vcpu]) return -XEN_EINVAL;  // Xen allows one registration per vCPU
    // Carry over what the legacy slot held, as Xen does when moving vcpu_info.
    if (shared_info_gpa_ && vcpu < XEN_LEGACY_MAX_VCPUS) {
      const Gpa legacy = *shared_info_gpa_ + offsetof(shared_info, vcpu_info) + vcpu * sizeof(vcpu_info);
      if (auto old = memory_.read_obj<vcpu_info>(legacy)) memory_.write_obj(gpa, *old);
    }
  }
  // Recorded only once KVM agreed, so both sides always use the same vcpu_info.
  if (accel_ && !accel_->set_vcpu_info(vcpu, gpa)) return -XEN_EINVAL;
  {
    std::lock_guard lock(mutex_);
    if (vcpu_info_gpa_[vcpu]) return -XEN_EINVAL;  // a concurrent registration won
    vcpu_info_gpa_[vcpu] = gpa;
  }
  publish_pvclock(vcpu);  // the guest reads its clock from the new place from now on
  spdlog::debug("xen: vcpu{} vcpu_info at {:#x}", vcpu, gpa);
  return 0;
}

std::int64_t XenPlatform::register_area(std::uint32_t vcpu, std::uint32_t cmd, std::uint64_t pointer, bool long_mode,
                                        GuestVirtual& gva) {
  // Xen keeps these by guest-virtual address; kxen and KVM keep the physical one, resolved now.
  const bool runstate = cmd == VCPUOP_register_runstate_memory_area;
  const std::uint64_t size = runstate ? Runstates::area_size(long_mode) : sizeof(vcpu_time_info);
  const auto gpa = translate_area(gva, pointer, size);
  if (!gpa) return gpa.error();
  if (!memory_.is_ram(*gpa, size)) return -XEN_EFAULT;
  if (accel_) {
    const bool ok = runstate ? accel_->set_runstate_area(vcpu, *gpa) : accel_->set_vcpu_time_info(vcpu, *gpa);
    return ok ? 0 : -XEN_EINVAL;
  }
  if (runstate) {
    runstates_.set_area(vcpu, *gpa, long_mode);
    return 0;
  }
  // The pvclock word must be 4-byte aligned for the version protocol.
  if ((*gpa & 3) != 0) return -XEN_EINVAL;
  {
    std::lock_guard lock(mutex_);
    time_area_gpa_[vcpu] = *gpa;
  }
  publish_pvclock(vcpu);
  return 0;
}

}  // namespace kxen
