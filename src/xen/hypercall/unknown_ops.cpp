#include "xen/hypercall/unknown_ops.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

namespace {
// Indexed by __HYPERVISOR_* (<xen/xen.h>); gaps are numbers Xen does not define.
constexpr std::array<std::string_view, 43> kNames = {
    "set_trap_table", "mmu_update", "set_gdt", "stack_switch", "set_callbacks",
    "fpu_taskswitch", "sched_op_compat", "platform_op", "set_debugreg", "get_debugreg",
    "update_descriptor", "", "memory_op", "multicall", "update_va_mapping",
    "set_timer_op", "event_channel_op_compat", "xen_version", "console_io", "physdev_op_compat",
    "grant_table_op", "vm_assist", "update_va_mapping_otherdomain", "iret", "vcpu_op",
    "set_segment_base", "mmuext_op", "xsm_op", "nmi_op", "sched_op",
    "callback_op", "xenoprof_op", "event_channel_op", "physdev_op", "hvm_op",
    "sysctl", "domctl", "kexec_op", "tmem_op", "argo_op",
    "xenpmu_op", "dm_op", "hypfs_op"};
static_assert(__HYPERVISOR_hypfs_op == kNames.size() - 1);
static_assert(__HYPERVISOR_console_io == 18 && __HYPERVISOR_hvm_op == 34);
}  // namespace

std::string_view hypercall_name(std::uint64_t nr) {
  return nr < kNames.size() ? kNames[nr] : std::string_view{};
}

bool UnknownOps::note(std::uint64_t nr, std::optional<std::uint32_t> subop, std::uint32_t vcpu) {
  const Key key{nr, subop};
  {
    std::lock_guard lock(mutex_);
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) return false;
    if (seen_.size() >= kMaxKeys) {
      if (!overflow_reported_) spdlog::warn("hypercall: more than {} unknown hypercalls; no longer logging them", kMaxKeys);
      overflow_reported_ = true;
      return false;
    }
    seen_.push_back(key);
  }
  const auto name = hypercall_name(nr);
  // Xen itself answers -ENOSYS for some sub-ops (FIFO-only calls on 2-level...): not a warning.
  if (subop)
    spdlog::info("hypercall: {} ({}) sub-op {} answered -ENOSYS (vcpu {})", name, nr, *subop, vcpu);
  else if (!name.empty())
    spdlog::warn("hypercall: unknown hypercall {} {} (vcpu {}): -ENOSYS", nr, name, vcpu);
  else
    spdlog::warn("hypercall: unknown hypercall {:#x} (vcpu {}): -ENOSYS", nr, vcpu);
  return true;
}

std::size_t UnknownOps::logged() const {
  std::lock_guard lock(mutex_);
  return seen_.size();
}

}  // namespace kxen
