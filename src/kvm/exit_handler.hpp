// The flat KVM exit dispatch: decode one exit, call the VM's services, say what the vCPU does next.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "kvm/exit_stats.hpp"
#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"

namespace kxen {

// Register access for one vCPU; the real one wraps VcpuFd, unit tests use a fake.
class VcpuRegisters {
 public:
  virtual ~VcpuRegisters() = default;
  virtual std::expected<kvm_regs, std::string> regs() = 0;
  virtual std::expected<void, std::string> set_regs(const kvm_regs& regs) = 0;
  virtual std::expected<kvm_sregs, std::string> sregs() = 0;
  // Lets KVM finish the current exit (write back and step over the trapping instruction)
  // without entering the guest: a continuation rewrites the registers after that.
  virtual std::expected<void, std::string> complete_exit() = 0;
};

// park: the vCPU parks at the top of its loop (a debugger stopped the VM; vmm/vm_lifecycle).
enum class ExitAction { resume, halt, stop, park };

// What a vCPU thread is doing, for the guest's runstate (Xen's RUNSTATE_running/blocked/offline).
enum class VcpuActivity { running, blocked, offline };

// What the exit handler needs from its VM.
class ExitServices {
 public:
  virtual ~ExitServices() = default;
  virtual GuestMemory& memory() = 0;
  virtual HypercallOutcome hypercall(const HypercallRequest& request, GuestVirtual& virt) = 0;
  virtual void debug_console_write(std::string_view bytes) = 0;
  // The guest wrote the hypercall-page MSR; false makes the write fault (#GP).
  virtual bool install_hypercall_page(std::uint64_t msr_value) = 0;
  // Something the guest did that Xen would kill the domain for (triple fault, bad state).
  virtual void guest_crashed(std::uint32_t vcpu, std::string_view why) = 0;
  // The guest asked the platform (ACPI sleep or reset register) to power off or reboot.
  virtual void guest_power(std::uint32_t vcpu, ShutdownReason reason, std::string_view how) = 0;
  // The vCPU thread started running the guest, parked in a halt, or ended; nothing by default.
  virtual void vcpu_activity(std::uint32_t /*vcpu*/, VcpuActivity /*activity*/) {}
  // KVM_EXIT_DEBUG (a breakpoint, watchpoint or single step the debugger armed); nullopt when
  // no debugger is attached, which makes the exit a crash.
  virtual std::optional<ExitAction> debug_exit(std::uint32_t /*vcpu*/, const kvm_debug_exit_arch& /*arch*/) {
    return std::nullopt;
  }
};

class ExitHandler final {
 public:
  ExitHandler(std::uint32_t vcpu, VcpuRegisters& registers, ExitServices& services)
      : vcpu_(vcpu), registers_(registers), services_(services) {}

  ExitAction handle(kvm_run& run);
  // KVM_RUN itself failed or the vCPU state is unusable: the guest cannot go on.
  ExitAction fail(std::string_view why);
  ExitStats& stats() { return stats_; }

 private:
  ExitAction on_shutdown();
  ExitAction on_io(kvm_run& run);
  ExitAction on_pio_hypercall();
  ExitAction on_power_port(std::uint16_t port, std::uint8_t value);
  ExitAction on_xen(kvm_run& run);
  ExitAction after_hypercall(const HypercallOutcome& outcome);
  ExitAction restart_hypercall(kvm_regs at_call, const HypercallRequest& request, const HypercallOutcome& outcome,
                               std::optional<std::uint64_t> rewind);
  ExitAction on_wrmsr(kvm_run& run);
  ExitAction on_hlt();
  ExitAction on_mmio(kvm_run& run);
  ExitAction on_debug(const kvm_run& run);

  std::uint32_t vcpu_;
  VcpuRegisters& registers_;
  ExitServices& services_;
  ExitStats stats_;
};

}  // namespace kxen
