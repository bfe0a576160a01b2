// The gdb Target over a running Vm: its lifecycle, inspector and Xen state (monitor commands).
#pragma once

#include "gdb/target.hpp"
#include "vmm/vm.hpp"

namespace kxen::gdb {

class VmTarget final : public Target {
 public:
  explicit VmTarget(Vm& vm) : vm_(vm) {}

  std::uint32_t vcpu_count() override { return vm_.vcpu_count(); }
  std::expected<VcpuState, std::string> state(std::uint32_t vcpu) override { return vm_.inspector().state(vcpu); }
  std::expected<void, std::string> set_state(std::uint32_t vcpu, const VcpuState& state) override {
    return vm_.inspector().set_state(vcpu, state);
  }
  std::size_t read_memory(std::uint32_t vcpu, std::uint64_t addr, std::span<std::byte> out, bool physical) override;
  bool write_memory(std::uint32_t vcpu, std::uint64_t addr, std::span<const std::byte> in, bool physical) override;
  std::optional<std::uint64_t> translate(std::uint32_t vcpu, std::uint64_t addr) override {
    return vm_.inspector().translate(vcpu, addr);
  }
  void attach(VmLifecycle::ExitFilter claims) override { vm_.lifecycle().attach(std::move(claims)); }
  void set_debug(const kvm_guest_debug& debug) override { vm_.lifecycle().set_debug(debug); }
  std::expected<void, std::string> resume(std::span<const RunAction> actions) override {
    return vm_.lifecycle().resume(actions);
  }
  std::vector<std::uint32_t> pause_all() override;
  std::optional<DebugExit> wait_stop(std::chrono::milliseconds limit) override {
    return vm_.lifecycle().wait_stop(limit);
  }
  bool ended() override { return vm_.lifecycle().ended(); }
  bool powered_off() override { return vm_.lifecycle().powered_off(); }
  bool rebooting() override { return vm_.lifecycle().rebooting(); }
  void kill() override;
  void detach() override;
  std::string describe_thread(std::uint32_t vcpu) override;
  std::string monitor(std::string_view command) override;

 private:
  Vm& vm_;
};

}  // namespace kxen::gdb
