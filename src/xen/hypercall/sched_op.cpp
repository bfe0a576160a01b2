#include "xen/hypercall/sched_op.hpp"

#include <spdlog/spdlog.h>

#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

static_assert(static_cast<std::uint32_t>(ShutdownReason::poweroff) == SHUTDOWN_poweroff);
static_assert(static_cast<std::uint32_t>(ShutdownReason::crash) == SHUTDOWN_crash);
static_assert(static_cast<std::uint32_t>(ShutdownReason::soft_reset) == SHUTDOWN_soft_reset &&
              SHUTDOWN_soft_reset == SHUTDOWN_MAX);

HypercallOutcome SchedOp::operator()(const HypercallRequest& req, GuestVirtual& mem) {
  const auto cmd = static_cast<std::uint32_t>(req.args[0]);  // Xen takes an int command
  switch (cmd) {
    case SCHEDOP_yield: return {0, VcpuAction::resume};
    case SCHEDOP_block: return {0, VcpuAction::block};
    case SCHEDOP_shutdown: {
      const auto arg = mem.read_obj<sched_shutdown_t>(req.args[1]);
      if (!arg) return {-XEN_EFAULT};
      return shutdown(arg->reason);
    }
    case SCHEDOP_shutdown_code: return {set_shutdown_code(req.args[1], mem)};
    // Blocks this vCPU's thread until a port is pending, a wake-up, the timeout or VM stop.
    case SCHEDOP_poll: return {poll_.poll(req, mem)};
    default: return {-XEN_ENOSYS};  // remote_shutdown, watchdog, pin_override: not for a domU here
  }
}

HypercallOutcome SchedOp::compat(const HypercallRequest& req) {
  switch (static_cast<std::uint32_t>(req.args[0])) {
    case SCHEDOP_yield: return {0, VcpuAction::resume};
    case SCHEDOP_block: return {0, VcpuAction::block};
    case SCHEDOP_shutdown: return shutdown(static_cast<std::uint32_t>(req.args[1]));
    default: return {-XEN_ENOSYS};
  }
}

HypercallOutcome SchedOp::shutdown(std::uint32_t reason) {
  if (reason > SHUTDOWN_MAX) return {-XEN_EINVAL};
  // As in Xen's domain_shutdown(): a code stored earlier wins over the one given now.
  const std::uint32_t stored = shutdown_code_.load();
  const auto effective = static_cast<ShutdownReason>(stored != kNoCode ? stored : reason);
  spdlog::info("sched: guest requested shutdown, reason {}", static_cast<std::uint32_t>(effective));
  host_.shutdown(effective);
  return {0, VcpuAction::stop};
}

std::int64_t SchedOp::set_shutdown_code(std::uint64_t arg, GuestVirtual& mem) {
  const auto code = mem.read_obj<sched_shutdown_t>(arg);
  if (!code) return -XEN_EFAULT;
  if (code->reason > SHUTDOWN_MAX) return -XEN_EINVAL;
  std::uint32_t expected = kNoCode;
  shutdown_code_.compare_exchange_strong(expected, code->reason);  // the first code sticks
  return 0;
}

std::optional<ShutdownReason> SchedOp::shutdown_code() const {
  const std::uint32_t code = shutdown_code_.load();
  if (code == kNoCode) return std::nullopt;
  return static_cast<ShutdownReason>(code);
}

}  // namespace kxen
