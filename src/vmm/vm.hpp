// A running guest, composed from KVM's wrappers (src/kvm), the Xen platform (src/xen) and the
// device manager: guest memory, vCPU threads, the hypercall transport and dispatcher, devices.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kvm/exit_handler.hpp"
#include "kvm/kvm_system.hpp"
#include "kvm/transport.hpp"
#include "kvm/vcpu.hpp"
#include "kvm/vm_clock.hpp"
#include "kvm/vm_fd.hpp"
#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"
#include "kvm/kvm_xen_accel.hpp"
#include "xen/hypercall/hypercalls.hpp"
#include "vmm/device_manager.hpp"
#include "vmm/guest_inspector.hpp"
#include "vmm/vm_lifecycle.hpp"
#include "xen/platform/xen_platform.hpp"

namespace kxen {

struct RamRange {
  Gpa gpa = 0;
  std::uint64_t size = 0;
};

struct VmConfig {
  std::vector<RamRange> ram;
  std::uint32_t vcpus = 1;
  TransportRequest transport = TransportRequest::automatic;
  std::string kvm_path = "/dev/kvm";
  PlatformConfig platform;  // memory map, special pages; vcpus is filled from `vcpus`
  DeviceManagerConfig services;  // XenStore, console and the XenBus devices
  bool prefault_memory = false;  // map all RAM into KVM's stage-2 tables before the guest runs
};

// How the guest ended: a Xen shutdown reason, or a fault kxen treats as a crash.
struct VmOutcome {
  ShutdownReason reason = ShutdownReason::poweroff;
  std::string detail;  // why, for crashes
};

// Lock order: Vm::state_mutex_ → (nothing); vCPU and memory locks are never held while taking it.
class Vm final : public ExitServices, public HypercallHost, public VcpuKicker {
 public:
  static std::expected<std::unique_ptr<Vm>, std::string> create(const VmConfig& config);
  ~Vm() override;

  TransportKind transport() const { return transport_; }
  std::uint32_t vcpu_count() const { return static_cast<std::uint32_t>(vcpus_.size()); }
  // Puts vCPU 0 in the PVH entry state.
  std::expected<void, std::string> set_pvh_entry(std::uint32_t entry, std::uint32_t start_info);
  // Runs the guest until it shuts down or crashes; returns how it ended.
  VmOutcome run();
  // Host-side stop (signal, timeout): ends run() with the given reason.
  void stop(ShutdownReason reason, std::string detail = {});
  // Asks the guest to shut down cleanly (control/shutdown); false if it never said it listens.
  bool request_guest_shutdown(std::string_view action) { return services_->request_shutdown(action); }
  // Logs where every vCPU is and what it has been exiting for (SIGUSR1: "why is my guest stuck?").
  void log_vcpu_states();

  // ExitServices
  GuestMemory& memory() override { return memory_; }
  HypercallOutcome hypercall(const HypercallRequest& request, GuestVirtual& virt) override;
  void debug_console_write(std::string_view bytes) override { console_output(bytes); }
  bool install_hypercall_page(std::uint64_t msr_value) override;
  void guest_crashed(std::uint32_t vcpu, std::string_view why) override;
  void guest_power(std::uint32_t vcpu, ShutdownReason reason, std::string_view how) override;
  void vcpu_activity(std::uint32_t vcpu, VcpuActivity activity) override;
  std::optional<ExitAction> debug_exit(std::uint32_t vcpu, const kvm_debug_exit_arch& arch) override {
    return lifecycle_->on_debug_exit(vcpu, arch);
  }

  // HypercallHost
  void console_output(std::string_view bytes) override;
  std::size_t console_input(std::span<char> out) override;
  void shutdown(ShutdownReason reason) override;
  void failed(std::string_view why) override;

  // VcpuKicker
  void kick_vcpu(std::uint32_t vcpu) override;

  XenPlatform& platform() { return *platform_; }
  xenstore::XenStore& store() { return services_->store(); }
  // Run control and paused-state access for a debugger (src/gdb).
  VmLifecycle& lifecycle() { return *lifecycle_; }
  GuestInspector& inspector() { return *inspector_; }
  // A vCPU's exit statistics; read them only while it is parked (they are its thread's).
  const ExitStats& exit_stats(std::uint32_t vcpu) { return vcpus_[vcpu]->exit_stats(); }

 private:
  Vm(KvmSystem kvm, VmFd vm, TransportKind transport, std::uint32_t vcpus);
  std::expected<void, std::string> setup_memory(const std::vector<RamRange>& ram);
  std::expected<void, std::string> prefault_ram(const std::vector<RamRange>& ram);
  std::expected<void, std::string> setup_vcpus(std::uint32_t count);
  std::expected<void, std::string> setup_platform(PlatformConfig config, const DeviceManagerConfig& services);
  void route_ports_in_kernel();

  KvmSystem kvm_;
  VmFd vm_;
  TransportKind transport_;
  GuestMemory memory_;
  std::unique_ptr<Hypercalls> hypercalls_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::unique_ptr<VmLifecycle> lifecycle_;     // over vcpus_, made once they exist
  std::unique_ptr<GuestInspector> inspector_;
  std::unique_ptr<KvmXenAccel> accel_;  // only with the kvm-xen transport
  std::unique_ptr<GuestClock> clock_;    // before platform_, which reads it until destroyed
  std::unique_ptr<XenPlatform> platform_;
  std::unique_ptr<DeviceManager> services_;  // after platform_ and memory_: destroyed before them

  std::mutex state_mutex_;
  std::condition_variable stopped_cv_;
  std::optional<VmOutcome> outcome_;
};

}  // namespace kxen
