// The hypercall dispatcher: a table indexed by __HYPERVISOR_* number, shared by every vCPU.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"
#include "xen/hypercall/console_io.hpp"
#include "xen/hypercall/hypercall_config.hpp"
#include "xen/hypercall/sched_op.hpp"
#include "xen/hypercall/unknown_ops.hpp"
#include "xen/hypercall/xen_version.hpp"

namespace kxen {

// Lifecycle: construct, let subsystems set_handler() their numbers, then start the vCPUs;
// dispatch() is called concurrently by every vCPU thread and only reads the table.
class Hypercalls final {
 public:
  // Receives the request with args already cut to 32 bits for 32-bit callers.
  using Handler = std::function<HypercallOutcome(const HypercallRequest&, GuestVirtual&)>;
  static constexpr unsigned kTableSize = 64;  // covers __HYPERVISOR_arch_7 (55)

  Hypercalls(GuestMemory& memory, HypercallHost& host, HypercallConfig config);
  Hypercalls(const Hypercalls&) = delete;
  Hypercalls& operator=(const Hypercalls&) = delete;

  // Installs (or replaces) the handler for one number; throws std::out_of_range for nr >= 64.
  // Only before vCPUs run.
  void set_handler(unsigned nr, Handler handler);
  bool has_handler(unsigned nr) const { return nr < kTableSize && static_cast<bool>(table_[nr]); }

  // Unknown numbers and -XEN_ENOSYS results are logged once per (number, sub-op = args[0]).
  HypercallOutcome dispatch(const HypercallRequest& request, GuestVirtual& mem);

  const HypercallConfig& config() const { return config_; }
  GuestMemory& memory() { return memory_; }
  HypercallHost& host() { return host_; }
  std::optional<ShutdownReason> shutdown_code() const { return sched_.shutdown_code(); }
  // SCHEDOP_poll: the VM attaches its event channels and forwards port raises, kicks and stop.
  SchedPoll& sched_poll() { return sched_.poll(); }
  const UnknownOps& unknown_ops() const { return unknown_; }

 private:
  GuestMemory& memory_;
  HypercallHost& host_;
  HypercallConfig config_;
  XenVersion version_;
  ConsoleIo console_;
  SchedOp sched_;
  UnknownOps unknown_;
  std::array<Handler, kTableSize> table_{};
};

// The request as a 32-bit caller meant it: number and arguments cut to their low 32 bits.
HypercallRequest truncate_for_caller(const HypercallRequest& request);

}  // namespace kxen
