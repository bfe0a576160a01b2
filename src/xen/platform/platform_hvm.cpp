// hvm_op: HVM parameters (console, store, callback vector) and the per-vCPU upcall vector.
#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

#include <xen/errno.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>

#include "kxen/log.hpp"

namespace kxen {

namespace {
static_assert(sizeof(xen_hvm_param) == 16);
// HVM_PARAM_CALLBACK_IRQ value: type in bits 63:56; type 2 carries the vector in bits 7:0.
constexpr unsigned kCallbackTypeShift = 56;
constexpr std::uint64_t kCallbackTypeVector = 2;
// The guest may read these; the rest are toolstack-only or meaningless here.
bool guest_readable(std::uint32_t index) {
  switch (index) {
    case HVM_PARAM_CALLBACK_IRQ:
    case HVM_PARAM_STORE_PFN:
    case HVM_PARAM_STORE_EVTCHN:
    case HVM_PARAM_CONSOLE_PFN:
    case HVM_PARAM_CONSOLE_EVTCHN:
    case HVM_PARAM_TIMER_MODE:
      return true;
    default: return false;
  }
}
}  // namespace

HypercallOutcome XenPlatform::hvm_op(const HypercallRequest& request, GuestVirtual& gva) {
  const std::uint64_t arg = request.args[1];
  switch (request.args[0]) {
    case HVMOP_set_param:
    case HVMOP_get_param: {
      auto op = gva.read_obj<xen_hvm_param>(arg);
      if (!op) return {-XEN_EFAULT};
      if (op->domid != DOMID_SELF && op->domid != config_.domid) return {-XEN_ESRCH};
      if (op->index >= HVM_NR_PARAMS) return {-XEN_EINVAL};
      if (request.args[0] == HVMOP_set_param) return {set_param(op->index, op->value)};
      if (!guest_readable(op->index)) return {-XEN_EPERM};
      op->value = hvm_param(op->index);
      return {gva.write_obj(arg, *op) ? 0 : -XEN_EFAULT};
    }
    case HVMOP_set_evtchn_upcall_vector: {
      auto op = gva.read_obj<xen_hvm_evtchn_upcall_vector>(arg);
      if (!op) return {-XEN_EFAULT};
      if (op->vcpu >= config_.vcpus || op->vector < 0x10) return {-XEN_EINVAL};
      if (!accel_ || !accel_->set_vcpu_upcall_vector(op->vcpu, op->vector)) return {-XEN_ENOSYS};
      std::lock_guard lock(mutex_);
      upcall_vector_[op->vcpu] = op->vector;  // kick() injects it for events raised in user space
      return {0};
    }
    // A shadow-paging hint; with nested paging Xen refuses it with -EINVAL too.
    case HVMOP_pagetable_dying: return {-XEN_EINVAL};
    default: return {-XEN_ENOSYS};
  }
}

std::int64_t XenPlatform::set_param(std::uint32_t index, std::uint64_t value) {
  if (index != HVM_PARAM_CALLBACK_IRQ) {
    KXEN_GUEST_WARN("xen: guest may not set HVM param {}", index);
    return -XEN_EPERM;
  }
  const std::uint64_t type = value >> kCallbackTypeShift;
  if (value != 0 && type != kCallbackTypeVector) {
    // Linux, FreeBSD and NetBSD set GSI 1 once vCPU 0 has its own upcall vector, only so that
    // tools see a callback; the per-vCPU vectors deliver. Xen accepts it, and so does kxen.
    bool vcpu0_has_vector = false;
    {
      std::lock_guard lock(mutex_);
      vcpu0_has_vector = !upcall_vector_.empty() && upcall_vector_[0] != 0;
    }
    if (!vcpu0_has_vector) {
      KXEN_GUEST_WARN("xen: callback type {} (GSI/PCI INTx) is not supported, only vectors", type);
      return -XEN_EINVAL;
    }
    set_hvm_param(index, value);
    return 0;
  }
  const auto vector = static_cast<std::uint8_t>(value & 0xff);
  if (value != 0 && vector < 0x10) return -XEN_EINVAL;
  if (accel_ && !accel_->set_callback_vector(vector)) return -XEN_EINVAL;
  set_hvm_param(index, value);
  return 0;
}

}  // namespace kxen
