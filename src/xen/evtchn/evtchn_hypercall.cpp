// __HYPERVISOR_event_channel_op: copy the op's struct in once, act, copy it out once.
#include <xen/errno.h>

#include "kxen/log.hpp"
#include "xen/evtchn/event_channels.hpp"

namespace kxen {

namespace {
static_assert(sizeof(evtchn_alloc_unbound) == 8);
static_assert(sizeof(evtchn_bind_interdomain) == 12);
static_assert(sizeof(evtchn_bind_virq) == 12);
static_assert(sizeof(evtchn_bind_ipi) == 8);
static_assert(sizeof(evtchn_close) == 4 && sizeof(evtchn_send) == 4 && sizeof(evtchn_unmask) == 4);
static_assert(sizeof(evtchn_status) == 24);
static_assert(sizeof(evtchn_bind_vcpu) == 8);
static_assert(sizeof(evtchn_reset) == 2);
static_assert(sizeof(evtchn_init_control) == 24);
static_assert(sizeof(evtchn_expand_array) == 8);
static_assert(sizeof(evtchn_set_priority) == 8);

HypercallOutcome result(std::int64_t rc) { return HypercallOutcome{rc, VcpuAction::resume}; }

// Reads T at gva, runs op on the copy, and writes it back when op succeeds and out is set.
template <class T, class Op>
HypercallOutcome with_struct(GuestVirtual& gva, std::uint64_t arg, bool out, Op&& op) {
  auto value = gva.read_obj<T>(arg);
  if (!value) return result(-XEN_EFAULT);
  const int rc = op(*value);
  if (rc == 0 && out && !gva.write_obj(arg, *value)) return result(-XEN_EFAULT);
  return result(rc);
}
}  // namespace

HypercallOutcome EventChannels::hypercall(const HypercallRequest& request, GuestVirtual& gva) {
  if (request.args[0] > 0xffffffffu) return result(-XEN_ENOSYS);
  // Closing every port is a budget of ports per invocation, then the same call again (Xen's
  // evtchn_reset is preemptible too): the ports closed so far are free, so it carries on.
  if (request.args[0] == EVTCHNOP_reset) {
    const auto op = gva.read_obj<evtchn_reset>(request.args[1]);
    if (!op) return result(-XEN_EFAULT);
    const auto step = reset_step(op->dom, kHypercallWorkBudget);
    if (!step) return result(step.error());
    return *step ? result(0) : continue_with(request.args);
  }
  const HypercallOutcome outcome = dispatch(static_cast<std::uint32_t>(request.args[0]), request.args[1], gva);
  if (outcome.result < 0 && outcome.result != -XEN_ENOSYS)
    spdlog::debug("evtchn: vcpu {} op {} -> {}", request.vcpu, request.args[0], outcome.result);
  return outcome;
}

HypercallOutcome EventChannels::dispatch(std::uint32_t cmd, std::uint64_t arg, GuestVirtual& gva) {
  switch (cmd) {
    case EVTCHNOP_alloc_unbound:
      return with_struct<evtchn_alloc_unbound>(gva, arg, true, [&](auto& op) { return alloc_unbound(op); });
    case EVTCHNOP_bind_interdomain:
      return with_struct<evtchn_bind_interdomain>(gva, arg, true, [&](auto& op) { return bind_interdomain(op); });
    case EVTCHNOP_bind_virq:
      return with_struct<evtchn_bind_virq>(gva, arg, true, [&](auto& op) { return bind_virq(op); });
    case EVTCHNOP_bind_ipi:
      return with_struct<evtchn_bind_ipi>(gva, arg, true, [&](auto& op) { return bind_ipi(op); });
    case EVTCHNOP_close:
      return with_struct<evtchn_close>(gva, arg, false, [&](auto& op) { return close(op.port); });
    case EVTCHNOP_send:
      return with_struct<evtchn_send>(gva, arg, false, [&](auto& op) { return send(op.port); });
    case EVTCHNOP_status:
      return with_struct<evtchn_status>(gva, arg, true, [&](auto& op) { return status(op); });
    case EVTCHNOP_bind_vcpu:
      return with_struct<evtchn_bind_vcpu>(gva, arg, false, [&](auto& op) { return bind_vcpu(op); });
    case EVTCHNOP_unmask:
      return with_struct<evtchn_unmask>(gva, arg, false, [&](auto& op) { return unmask(op.port); });
    case EVTCHNOP_init_control:
      return with_struct<evtchn_init_control>(gva, arg, true, [&](auto& op) { return init_control(op); });
    case EVTCHNOP_expand_array:
      return with_struct<evtchn_expand_array>(gva, arg, false, [&](auto& op) { return expand_array(op); });
    case EVTCHNOP_set_priority:
      return with_struct<evtchn_set_priority>(gva, arg, false, [&](auto& op) { return set_priority(op); });
    case EVTCHNOP_bind_pirq:  // PVH guests have no physical IRQs (no XENFEAT_hvm_pirqs)
    default:
      KXEN_GUEST_WARN("evtchn: unsupported EVTCHNOP {}", cmd);
      return result(-XEN_ENOSYS);
  }
}

}  // namespace kxen
