#include "gdb/vm_target.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gdb/monitor.hpp"

namespace kxen::gdb {

namespace {
// A vCPU in a blocking hypercall gets this long to reach its park.
constexpr std::chrono::milliseconds kPauseLimit{2000};
constexpr std::uint64_t kEferLma = 1ull << 10;

std::string mode_of(const kvm_sregs& s) {
  if ((s.efer & kEferLma) && s.cs.l) return "64-bit";
  if (s.cr0 & 1) return s.cs.db ? "32-bit" : "16-bit protected";
  return "real mode";
}
}  // namespace

std::size_t VmTarget::read_memory(std::uint32_t vcpu, std::uint64_t addr, std::span<std::byte> out, bool physical) {
  return physical ? vm_.inspector().read_physical(addr, out) : vm_.inspector().read_virtual(vcpu, addr, out);
}

bool VmTarget::write_memory(std::uint32_t vcpu, std::uint64_t addr, std::span<const std::byte> in, bool physical) {
  return physical ? vm_.inspector().write_physical(addr, in) : vm_.inspector().write_virtual(vcpu, addr, in);
}

std::vector<std::uint32_t> VmTarget::pause_all() { return vm_.lifecycle().pause_all(kPauseLimit); }

void VmTarget::kill() {
  spdlog::info("gdb: kill: stopping the guest");
  vm_.stop(ShutdownReason::poweroff, "killed by gdb");
}

void VmTarget::detach() {
  if (auto r = vm_.lifecycle().detach(); !r) spdlog::warn("gdb: detach: {}", r.error());
  if (auto r = vm_.lifecycle().resume_all(); !r) spdlog::warn("gdb: detach: {}", r.error());
  spdlog::info("gdb: detached; the guest runs on");
}

std::string VmTarget::describe_thread(std::uint32_t vcpu) {
  auto state = vm_.inspector().state(vcpu);
  auto mp = vm_.inspector().mp_state(vcpu);
  const char* run = !mp ? "unknown" : *mp == KVM_MP_STATE_HALTED ? "halted"
                                    : *mp == KVM_MP_STATE_UNINITIALIZED ? "waiting for SIPI" : "running";
  return fmt::format("vCPU {} [{}], {}", vcpu, run, state ? mode_of(state->sregs) : "unknown mode");
}

std::string VmTarget::monitor(std::string_view command) { return run_monitor(vm_, command); }

}  // namespace kxen::gdb
