#include "kvm/exit_handler.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "boot/acpi/sleep_control.hpp"
#include "kxen/log.hpp"
#include "xen/hypercall/hypercall_page.hpp"
#include "xen/hypercall/paged_guest_virtual.hpp"

namespace kxen {

namespace {
constexpr std::uint64_t kEferLma = 1u << 10;
constexpr std::uint64_t kRflagsIf = 1u << 9;
constexpr std::int64_t kXenEperm = -1;  // XEN_EPERM: hypercalls from guest user mode
constexpr std::uint64_t kStubOutLength = 2;  // `out %eax, $imm8` in a hypercall-page stub

PagingState paging_of(const kvm_sregs& s) { return PagingState{s.cr0, s.cr3, s.cr4, s.efer}; }
// 64-bit hypercall ABI only in 64-bit code; compatibility-mode code uses the 32-bit one.
bool in_long_mode(const kvm_sregs& s) { return (s.efer & kEferLma) && s.cs.l; }

// x86's INIT state: where a vCPU is after KVM_EXIT_SHUTDOWN on AMD, whose shutdown intercept
// leaves the VMCB undefined, so KVM resets the vCPU before returning.
bool at_init_state(const kvm_regs& r, const kvm_sregs& s) {
  return r.rip == 0xfff0 && s.cs.selector == 0xf000 && s.cs.base == 0xffff0000;
}
}  // namespace

ExitAction ExitHandler::handle(kvm_run& run) {
  stats_.count_exit(run.exit_reason);
  switch (run.exit_reason) {
    case KVM_EXIT_IO: return on_io(run);
    case KVM_EXIT_XEN: return on_xen(run);
    case KVM_EXIT_X86_WRMSR: return on_wrmsr(run);
    case KVM_EXIT_X86_RDMSR:
      run.msr.error = 1;  // only writes are filtered; a read here means a KVM quirk: fault it
      return ExitAction::resume;
    case KVM_EXIT_MMIO: return on_mmio(run);
    case KVM_EXIT_HLT: return on_hlt();
    case KVM_EXIT_INTR: return ExitAction::resume;
    case KVM_EXIT_SHUTDOWN: return on_shutdown();
    case KVM_EXIT_DEBUG: return on_debug(run);
    case KVM_EXIT_FAIL_ENTRY:
      return fail(fmt::format("VM entry failed, hardware reason {:#x}", run.fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTERNAL_ERROR:
      return fail(fmt::format("KVM internal error, suberror {}", run.internal.suberror));
    case KVM_EXIT_SYSTEM_EVENT: return fail(fmt::format("system event {}", run.system_event.type));
    default: return fail(fmt::format("unhandled KVM exit reason {}", run.exit_reason));
  }
}

ExitAction ExitHandler::on_io(kvm_run& run) {
  stats_.count_port(run.io.port);
  auto* data = reinterpret_cast<std::uint8_t*>(&run) + run.io.data_offset;
  const std::size_t bytes = static_cast<std::size_t>(run.io.size) * run.io.count;
  if (run.io.direction == KVM_EXIT_IO_OUT) {
    if (run.io.port == kHypercallPort && run.io.size == 4 && run.io.count == 1) return on_pio_hypercall();
    if (run.io.port == kDebugConsolePort)
      services_.debug_console_write(std::string_view(reinterpret_cast<const char*>(data), bytes));
    if (run.io.size == 1 && run.io.count == 1) return on_power_port(run.io.port, data[0]);
    return ExitAction::resume;  // writes to absent devices are ignored
  }
  // No wake event is ever pending; every other absent device floats high.
  const bool sleep_status = run.io.port == boot::acpi::kSleepStatusPort && run.io.size == 1;
  std::memset(data, sleep_status ? 0 : 0xff, bytes);
  return ExitAction::resume;
}

ExitAction ExitHandler::on_power_port(std::uint16_t port, std::uint8_t value) {
  namespace acpi = boot::acpi;
  if (port == acpi::kResetPort && value == acpi::kResetValue) {
    services_.guest_power(vcpu_, ShutdownReason::reboot, "ACPI reset register");
    return ExitAction::stop;
  }
  if (port != acpi::kSleepControlPort) return ExitAction::resume;
  const auto sleep_type = acpi::decode_sleep_control(value);
  if (!sleep_type) return ExitAction::resume;  // SLP_TYP staged without SLP_EN
  if (*sleep_type == acpi::kSleepTypeS5) {
    services_.guest_power(vcpu_, ShutdownReason::poweroff, "ACPI S5 (soft-off)");
    return ExitAction::stop;
  }
  // Only _S5 is in the DSDT; other states are not offered, so the write does nothing.
  KXEN_GUEST_WARN("vcpu{}: ACPI sleep type {} is not supported; ignored", vcpu_, *sleep_type);
  return ExitAction::resume;
}

ExitAction ExitHandler::on_pio_hypercall() {
  auto regs = registers_.regs();
  auto sregs = registers_.sregs();
  if (!regs || !sregs) return fail(regs ? sregs.error() : regs.error());
  const HypercallRequest request = decode_pio_hypercall(*regs, in_long_mode(*sregs), vcpu_);
  stats_.count_hypercall(request.nr, request.args[0]);
  HypercallOutcome outcome{kXenEperm, VcpuAction::resume};
  if (sregs->cs.dpl == 0) {
    PagedGuestVirtual virt(services_.memory(), paging_of(*sregs));
    outcome = services_.hypercall(request, virt);
  }
  if (outcome.action == VcpuAction::restart) return restart_hypercall(*regs, request, outcome, kStubOutLength);
  regs->rax = static_cast<std::uint64_t>(outcome.result);
  if (!request.long_mode) regs->rax &= 0xffffffffu;
  if (auto r = registers_.set_regs(*regs); !r) return fail(r.error());
  return after_hypercall(outcome);
}

ExitAction ExitHandler::on_xen(kvm_run& run) {
  if (run.xen.type != KVM_EXIT_XEN_HCALL) return fail(fmt::format("unknown KVM_EXIT_XEN type {}", run.xen.type));
  const HypercallRequest request = decode_xen_exit(run.xen, vcpu_);
  stats_.count_hypercall(request.nr, request.args[0]);
  HypercallOutcome outcome{kXenEperm, VcpuAction::resume};
  if (run.xen.u.hcall.cpl == 0) {
    auto sregs = registers_.sregs();
    if (!sregs) return fail(sregs.error());
    PagedGuestVirtual virt(services_.memory(), paging_of(*sregs));
    outcome = services_.hypercall(request, virt);
  }
  if (outcome.action == VcpuAction::restart) {
    auto regs = registers_.regs();  // RIP still at the VMCALL: KVM steps over it only on completion
    if (!regs) return fail(regs.error());
    run.xen.u.hcall.result = run.xen.u.hcall.input;
    return restart_hypercall(*regs, request, outcome, std::nullopt);
  }
  run.xen.u.hcall.result = static_cast<std::uint64_t>(outcome.result);
  return after_hypercall(outcome);
}

ExitAction ExitHandler::after_hypercall(const HypercallOutcome& outcome) {
  switch (outcome.action) {
    case VcpuAction::block: return ExitAction::halt;
    case VcpuAction::stop: return ExitAction::stop;
    case VcpuAction::resume:
    case VcpuAction::restart: break;
  }
  return ExitAction::resume;
}

// Xen's continuation: the guest's registers go back to the trapping instruction (VMCALL, or the
// stub's OUT) with the number in RAX and the continuation's arguments, so it issues the call again
// after the vCPU has passed through KVM_RUN, where stop, kicks and posted work are seen.
// `rewind`: how far back from the RIP after completion the instruction starts, for exits whose
// RIP differs between KVMs (a PIO exit's RIP is at the OUT in KVM, already past it in PVM);
// nullopt keeps the RIP of the exit, which KVM_EXIT_XEN always reports at the VMCALL.
ExitAction ExitHandler::restart_hypercall(kvm_regs at_call, const HypercallRequest& request,
                                          const HypercallOutcome& outcome, std::optional<std::uint64_t> rewind) {
  stats_.count_continuation();
  if (auto r = registers_.complete_exit(); !r) return fail(r.error());
  if (rewind) {
    auto after = registers_.regs();
    if (!after) return fail(after.error());
    at_call.rip = after->rip - *rewind;
  }
  set_hypercall_args(at_call, request.long_mode, outcome.restart_args);
  if (auto r = registers_.set_regs(at_call); !r) return fail(r.error());
  return ExitAction::resume;
}

ExitAction ExitHandler::on_wrmsr(kvm_run& run) {
  run.msr.error = 0;
  if (run.msr.index != kHypercallMsr || !services_.install_hypercall_page(run.msr.data)) {
    KXEN_GUEST_WARN("vcpu{}: refused wrmsr {:#x} <- {:#x}", vcpu_, run.msr.index, run.msr.data);
    run.msr.error = 1;  // KVM injects #GP
  }
  return ExitAction::resume;
}

ExitAction ExitHandler::on_hlt() {
  // HLT reaches user space only without an in-kernel LAPIC; with IF clear nothing can wake it.
  auto regs = registers_.regs();
  if (!regs) return fail(regs.error());
  if ((regs->rflags & kRflagsIf) == 0) return fail("halted with interrupts disabled: the guest has stopped for good");
  return ExitAction::halt;
}

ExitAction ExitHandler::on_mmio(kvm_run& run) {
  // No emulated MMIO devices yet: reads float high, writes are dropped, as for absent ports.
  if (!run.mmio.is_write) std::memset(run.mmio.data, 0xff, sizeof(run.mmio.data));
  // Probing absent devices (HPET at 0xfed00000, ...) is normal for a guest: debug level, rate-limited.
  static RateLimit limit;
  if (limit.allow())
    spdlog::debug("vcpu{}: MMIO {} of {} bytes at {:#x} with no device", vcpu_,
                  run.mmio.is_write ? "write" : "read", run.mmio.len, run.mmio.phys_addr);
  return ExitAction::resume;
}

ExitAction ExitHandler::on_debug(const kvm_run& run) {
  if (auto action = services_.debug_exit(vcpu_, run.debug.arch)) return *action;
  return fail(fmt::format("debug exit (exception {} at {:#x}) with no debugger attached", run.debug.arch.exception,
                          run.debug.arch.pc));
}

ExitAction ExitHandler::on_shutdown() {
  auto regs = registers_.regs();
  auto sregs = registers_.sregs();
  if (regs && sregs && at_init_state(*regs, *sregs))
    return fail("triple fault (KVM_EXIT_SHUTDOWN); KVM has already reset the vCPU to its INIT state, as it does on "
                "AMD, so its registers do not show where it faulted");
  return fail("triple fault (KVM_EXIT_SHUTDOWN)");
}

ExitAction ExitHandler::fail(std::string_view why) {
  // The register state at the fault is what a guest developer needs first.
  auto regs = registers_.regs();
  auto sregs = registers_.sregs();
  if (regs && sregs)
    spdlog::info("vcpu{}: rip={:#x} rsp={:#x} rflags={:#x} cs={:#x}/{}{} cr0={:#x} cr3={:#x} cr4={:#x} efer={:#x}", vcpu_,
                 regs->rip, regs->rsp, regs->rflags, sregs->cs.selector, sregs->cs.l ? "64" : "32",
                 sregs->cs.db ? "d" : "", sregs->cr0, sregs->cr3, sregs->cr4, sregs->efer);
  services_.guest_crashed(vcpu_, why);
  return ExitAction::stop;
}

}  // namespace kxen
