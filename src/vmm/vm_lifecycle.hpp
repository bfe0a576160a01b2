// Run control of a VM's vCPUs for a debugger (and later signals and a control socket): pause all
// vCPUs out of KVM_RUN, resume them, step or continue one, and the stop events of debug exits.
#pragma once

#include <linux/kvm.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kvm/exit_handler.hpp"
#include "kvm/vcpu.hpp"

namespace kxen {

// One KVM_EXIT_DEBUG as the vCPU saw it (exception 1 = #DB with DR6, 3 = #BP at pc).
struct DebugExit {
  std::uint32_t vcpu = 0;
  kvm_debug_exit_arch arch{};
};

enum class RunAction { stay, resume, step };

// Lock order: VmLifecycle::mutex_ -> Vcpu::mutex_; no vCPU ioctl runs under mutex_.
// vCPU threads only post (on_debug_exit never waits); waiting is for the debugger's thread.
class VmLifecycle final {
 public:
  // claims(exit): the debugger armed what fired; an unclaimed #BP/#DB goes back to the guest.
  using ExitFilter = std::function<bool(const DebugExit&)>;

  explicit VmLifecycle(std::vector<std::unique_ptr<Vcpu>>& vcpus) : vcpus_(vcpus), stepping_(vcpus.size()) {}

  std::uint32_t vcpu_count() const { return static_cast<std::uint32_t>(vcpus_.size()); }

  // Asks every vCPU to park (returns at once; safe on vCPU threads and before they start).
  void request_pause_all();
  // request_pause_all(), then waits up to `limit`; returns the vCPUs still busy in kxen (a long
  // blocking hypercall): they park as soon as it returns.
  std::vector<std::uint32_t> pause_all(std::chrono::milliseconds limit);
  bool is_parked(std::uint32_t vcpu);

  // Per-vCPU action (one per vCPU); earlier stop events are dropped. The debug registers set by
  // set_debug() are loaded into each vCPU that runs, with single-step for `step`.
  std::expected<void, std::string> resume(std::span<const RunAction> actions);
  std::expected<void, std::string> resume_all();

  // Debugger attached: debug exits become stop events. Detaching disarms every vCPU's guest debug.
  void attach(ExitFilter filter);
  std::expected<void, std::string> detach();
  bool attached() const;
  // KVM_SET_GUEST_DEBUG's control (without SINGLESTEP) and debug registers, for every vCPU.
  void set_debug(const kvm_guest_debug& debug);

  // From a vCPU thread (Vm::debug_exit): a stop event and park, a re-injection, or nullopt.
  std::optional<ExitAction> on_debug_exit(std::uint32_t vcpu, const kvm_debug_exit_arch& arch);
  // The next stop event, waiting up to `limit`.
  std::optional<DebugExit> wait_stop(std::chrono::milliseconds limit);
  // The VM has ended (powered off, crashed, killed): wait_stop() callers learn it.
  void vm_ended(bool powered_off, bool rebooting);
  bool ended() const;
  bool powered_off() const;
  // Ended by the guest's reboot: the launcher may start the next boot.
  bool rebooting() const;
  bool was_stepping(std::uint32_t vcpu) const;

 private:
  std::expected<void, std::string> load_debug(Vcpu& vcpu, std::uint32_t extra_control);

  std::vector<std::unique_ptr<Vcpu>>& vcpus_;
  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  std::deque<DebugExit> stops_;
  std::vector<bool> stepping_;
  ExitFilter filter_;
  kvm_guest_debug debug_{};
  bool attached_ = false;
  bool armed_ = false;      // guest debug was ever loaded: late debug exits are expected
  bool ended_ = false;
  bool powered_off_ = false;  // ended by the guest's poweroff (else a crash, reboot or kill)
  bool rebooting_ = false;
  bool block_irq_ = true;   // KVM_GUESTDBG_BLOCKIRQ while stepping, until KVM refuses it
};

}  // namespace kxen
