// What the gdb session drives: a paused-or-running VM seen as threads (vCPUs), registers and
// memory. The real one (vm_target) wraps Vm; unit tests use a fake.
#pragma once

#include <linux/kvm.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/guest_inspector.hpp"
#include "vmm/vm_lifecycle.hpp"

namespace kxen::gdb {

class Target {
 public:
  virtual ~Target() = default;
  virtual std::uint32_t vcpu_count() = 0;
  virtual std::expected<VcpuState, std::string> state(std::uint32_t vcpu) = 0;
  virtual std::expected<void, std::string> set_state(std::uint32_t vcpu, const VcpuState& state) = 0;
  // Virtual addresses go through the vCPU's page tables; physical ones straight to guest memory.
  virtual std::size_t read_memory(std::uint32_t vcpu, std::uint64_t addr, std::span<std::byte> out, bool physical) = 0;
  virtual bool write_memory(std::uint32_t vcpu, std::uint64_t addr, std::span<const std::byte> in, bool physical) = 0;
  virtual std::optional<std::uint64_t> translate(std::uint32_t vcpu, std::uint64_t addr) = 0;

  // Debugger attached: claims(exit) says whether a debug exit is ours (else re-injected).
  virtual void attach(VmLifecycle::ExitFilter claims) = 0;
  virtual void set_debug(const kvm_guest_debug& debug) = 0;
  virtual std::expected<void, std::string> resume(std::span<const RunAction> actions) = 0;
  // Stops every vCPU (bounded wait); returns those still busy in a long hypercall.
  virtual std::vector<std::uint32_t> pause_all() = 0;
  virtual std::optional<DebugExit> wait_stop(std::chrono::milliseconds limit) = 0;
  virtual bool ended() = 0;
  // The guest powered off (gdb: "exited normally"); else it crashed, rebooted or was killed.
  virtual bool powered_off() = 0;
  // It ended by rebooting: a next boot may follow (the launcher decides).
  virtual bool rebooting() = 0;
  virtual void kill() = 0;
  // Disarms guest debug and lets every vCPU run on.
  virtual void detach() = 0;
  // "vCPU n [running|halted], 64-bit" for qThreadExtraInfo.
  virtual std::string describe_thread(std::uint32_t vcpu) = 0;
  // A `monitor` command's output text (ends with a newline).
  virtual std::string monitor(std::string_view command) = 0;
};

}  // namespace kxen::gdb
