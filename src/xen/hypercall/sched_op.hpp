// HYPERVISOR_sched_op (and the old sched_op_compat numbering): yield, block, poll, shutdown.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "kxen/hypercall.hpp"
#include "xen/hypercall/sched_poll.hpp"

namespace kxen {

// Thread-safe: every vCPU thread calls it; its state is the stored shutdown code and the pollers.
class SchedOp final {
 public:
  explicit SchedOp(HypercallHost& host, std::uint32_t vcpus = 1) : host_(host), poll_(vcpus) {}

  // args[0] = SCHEDOP_*, args[1] = guest-virtual argument struct.
  HypercallOutcome operator()(const HypercallRequest& req, GuestVirtual& mem);
  // __HYPERVISOR_sched_op_compat: args[1] is the value itself (shutdown reason), not a pointer.
  HypercallOutcome compat(const HypercallRequest& req);

  // Set by SCHEDOP_shutdown_code: the reason a later shutdown or crash reports.
  std::optional<ShutdownReason> shutdown_code() const;
  // SCHEDOP_poll's waiters: the VM attaches its event channels and forwards wake-ups here.
  SchedPoll& poll() { return poll_; }

 private:
  HypercallOutcome shutdown(std::uint32_t reason);
  std::int64_t set_shutdown_code(std::uint64_t arg, GuestVirtual& mem);

  static constexpr std::uint32_t kNoCode = ~0u;
  HypercallHost& host_;
  std::atomic<std::uint32_t> shutdown_code_{kNoCode};
  SchedPoll poll_;
};

}  // namespace kxen
