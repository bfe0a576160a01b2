#include "vmm/vm.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "kvm/kvm_prefault.h"
#include "kvm/pvh_entry.hpp"
#include "kxen/log.hpp"
#include "kvm/kvm_flex.h"
#include "xen/hypercall/cpuid.hpp"
#include "xen/hypercall/hypercall_page.hpp"

namespace kxen {

std::expected<std::unique_ptr<Vm>, std::string> Vm::create(const VmConfig& config) {
  auto kvm = KvmSystem::open(config.kvm_path);
  if (!kvm) return std::unexpected(kvm.error());
  const int max_vcpus = kvm->max_vcpus();
  if (config.vcpus == 0 || static_cast<int>(config.vcpus) > max_vcpus)
    return std::unexpected(fmt::format("--vcpus {}: this host's KVM allows 1 to {}", config.vcpus, max_vcpus));
  auto transport = choose_transport(config.transport, kvm->xen_hvm_flags());
  if (!transport) return std::unexpected(transport.error());
  if (*transport != TransportKind::kvm_xen && config.vcpus > 1)
    return std::unexpected(fmt::format(
        "--vcpus {}: more than one vCPU needs the kvm-xen transport (an in-kernel LAPIC for INIT/SIPI); "
        "use --vcpus 1 or a host KVM with Xen support",
        config.vcpus));
  auto vm_fd = kvm->create_vm();
  if (!vm_fd) return std::unexpected(vm_fd.error());

  std::unique_ptr<Vm> vm(new Vm(std::move(*kvm), VmFd(std::move(*vm_fd)), *transport, config.vcpus));
  if (auto r = configure_transport(vm->transport_, vm->vm_); !r) return std::unexpected(r.error());
  if (auto r = vm->setup_memory(config.ram); !r) return std::unexpected(r.error());
  // Linux needs an in-kernel LAPIC (SMP by INIT/SIPI, upcall vectors); tiny guests do not.
  if (vm->transport_ == TransportKind::kvm_xen) {
    if (auto r = vm->vm_.create_irqchip(); !r) return std::unexpected(r.error());
    // Linux on AMD calibrates cpu_khz on PIT channel 2 even as a Xen guest: without a PIT it
    // spins through 100,000 port reads, each an exit to kxen. KVM's PIT answers them in-kernel;
    // its IRQ 0 goes nowhere (PICs masked, IOAPIC pins masked until the guest routes them).
    if (auto r = vm->vm_.create_pit(); !r) return std::unexpected(r.error());
    if (auto r = vm->vm_.mask_legacy_pic(); !r) return std::unexpected(r.error());
  }
  if (auto r = vm->setup_vcpus(config.vcpus); !r) return std::unexpected(r.error());
  if (config.prefault_memory) {
    if (auto r = vm->prefault_ram(config.ram); !r) return std::unexpected(r.error());
  }
  if (auto r = vm->setup_platform(config.platform, config.services); !r) return std::unexpected(r.error());
  spdlog::info("kvm: hypercall transport {}: {}", transport_name(vm->transport_), transport_limits(vm->transport_));
  return vm;
}

Vm::Vm(KvmSystem kvm, VmFd vm, TransportKind transport, std::uint32_t vcpus)
    : kvm_(std::move(kvm)), vm_(std::move(vm)), transport_(transport) {
  HypercallConfig config;
  config.vcpu_count = vcpus;
  hypercalls_ = std::make_unique<Hypercalls>(memory_, *this, config);
}

Vm::~Vm() {
  if (platform_) platform_->stop_timers();  // no expiry kicks a vCPU being joined
  for (auto& vcpu : vcpus_) vcpu->stop();
  for (auto& vcpu : vcpus_) vcpu->join();
}

std::expected<void, std::string> Vm::setup_memory(const std::vector<RamRange>& ram) {
  for (const auto& range : ram) {
    if (auto err = memory_.add_ram(range.gpa, range.size)) return std::unexpected(*err);
  }
  for (const auto& region : memory_.regions()) {
    if (auto r = vm_.set_memory_region(region); !r) return r;
  }
  // Overlay pages the guest places later (shared_info, grant frames) follow into KVM memslots.
  // RAM split around an overlay (add_to_physmap over RAM) arrives as removed + added slots.
  memory_.set_listener([this](const MemoryRegion& region, GuestMemory::RegionEvent event) {
    auto r = event == GuestMemory::RegionEvent::removed ? vm_.remove_memory_region(region.slot)
                                                        : vm_.set_memory_region(region);
    // The guest places overlays (add_to_physmap) where it likes, as often as it likes: rate-limited.
    if (!r) KXEN_GUEST_WARN("kvm: memslot {} at {:#x}+{:#x}: {}", region.slot, region.gpa, region.size, r.error());
  });
  return {};
}

std::expected<void, std::string> Vm::prefault_ram(const std::vector<RamRange>& ram) {
  if (vm_.check_extension(KVM_CAP_PRE_FAULT_MEMORY) <= 0)
    return std::unexpected(std::string(
        "--prefault-memory: this host's KVM cannot pre-fault guest memory (KVM_CAP_PRE_FAULT_MEMORY needs "
        "Linux 6.11 or later with nested paging); drop the option"));
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t bytes = 0;
  // One stage-2 root serves every vCPU (its role does not depend on the guest's paging mode).
  for (const auto& range : ram) {
    // Written first: a read pre-fault of untouched memory maps the shared zero page read-only,
    // and the guest's first write would take a nested page fault after all.
    auto host = memory_.span(range.gpa, range.size);
    if (!host) return std::unexpected(fmt::format("cannot pre-fault guest RAM: no host memory at {:#x}", range.gpa));
    if (madvise(host->data(), host->size(), MADV_POPULATE_WRITE) != 0)
      return std::unexpected(fmt::format("cannot pre-fault guest RAM: populating {} MiB failed: {}",
                                         range.size >> 20, std::strerror(errno)));
    if (auto r = vcpus_.front()->fd().pre_fault(range.gpa, range.size); !r) return r;
    bytes += range.size;
  }
  spdlog::info("kvm: pre-faulted {} MiB of guest RAM in {:.2f} s", bytes >> 20,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return {};
}

namespace {
// KVM derives CPUID.1:EDX.APIC from IA32_APIC_BASE's enable bit (set at reset), whatever
// KVM_SET_CPUID2 said: with no LAPIC, clear it so the APIC stays hidden.
std::expected<void, std::string> disable_apic_base(const VcpuFd& fd, bool bsp) {
  constexpr std::uint32_t kMsrApicBase = 0x1b;
  constexpr std::uint64_t kApicBaseBsp = 1ull << 8;
  kvm_msr_entry entry{};
  entry.index = kMsrApicBase;
  entry.data = 0xfee00000ull | (bsp ? kApicBaseBsp : 0);
  if (kxen_kvm_set_msrs(fd.get(), &entry, 1) != 0) return std::unexpected(std::string("KVM_SET_MSRS(IA32_APIC_BASE) failed"));
  return {};
}
}  // namespace

std::expected<void, std::string> Vm::setup_vcpus(std::uint32_t count) {
  auto host_cpuid = kvm_.supported_cpuid();
  if (!host_cpuid) return std::unexpected(host_cpuid.error());
  Vcpu::install_kick_signal();
  for (std::uint32_t id = 0; id < count; ++id) {
    auto fd = vm_.create_vcpu(id);
    if (!fd) return std::unexpected(fd.error());
    auto vcpu_fd = VcpuFd::create(std::move(*fd), kvm_.vcpu_mmap_size());
    if (!vcpu_fd) return std::unexpected(vcpu_fd.error());
    XenCpuidConfig cpuid;
    cpuid.tsc_khz = vcpu_fd->tsc_khz();
    cpuid.vcpus = count;
    // Per-vCPU upcall vectors are LAPIC interrupts (edge): KVM's global callback vector is
    // level-checked on evtchn_upcall_pending instead. Xen >= 4.17 offers them too.
    cpuid.upcall_vector = transport_ == TransportKind::kvm_xen;
    // Only kvm-xen has KVM's in-kernel LAPIC; the hypercall-page transport hides the APIC (and the MADT).
    cpuid.lapic = transport_ == TransportKind::kvm_xen;
    if (auto r = vcpu_fd->set_cpuid(merge_guest_cpuid(*host_cpuid, id, cpuid)); !r) return std::unexpected(r.error());
    if (!cpuid.lapic) {
      if (auto r = disable_apic_base(*vcpu_fd, id == 0); !r) return std::unexpected(r.error());
    }
    vcpus_.push_back(std::make_unique<Vcpu>(id, std::move(*vcpu_fd), *this));
  }
  lifecycle_ = std::make_unique<VmLifecycle>(vcpus_);
  inspector_ = std::make_unique<GuestInspector>(vcpus_, memory_);
  return {};
}

std::expected<void, std::string> Vm::setup_platform(PlatformConfig config, const DeviceManagerConfig& services) {
  config.vcpus = vcpu_count();
  if (transport_ == TransportKind::kvm_xen) {
    accel_ = std::make_unique<KvmXenAccel>(vm_, vcpus_);
    for (std::uint32_t id = 0; id < vcpu_count(); ++id) accel_->set_vcpu_id(id);
  }
  auto clock = make_guest_clock(transport_, vm_, vcpus_.front()->fd());
  if (!clock) return std::unexpected(clock.error());
  clock_ = std::move(*clock);
  platform_ = std::make_unique<XenPlatform>(config, memory_, accel_.get(), *this, *clock_);
  platform_->register_hypercalls(*hypercalls_);
  if (accel_) route_ports_in_kernel();
  auto started = DeviceManager::start(
      *platform_, memory_, services, [this] { stop(ShutdownReason::poweroff, "the console user pressed Ctrl-]"); },
      [this](std::string_view why) { failed(why); });
  if (!started) return std::unexpected(started.error());
  services_ = std::move(*started);
  return {};
}

void Vm::route_ports_in_kernel() {
  platform_->event_channels().set_route_listener([this](const KernelRoute& route) {
    bool ok = false;
    switch (route.kind) {
      case KernelRoute::Kind::eventfd: ok = accel_->route_port(route.guest_port, route.eventfd); break;
      case KernelRoute::Kind::local: ok = accel_->route_ipi(route.guest_port, route.vcpu); break;
      case KernelRoute::Kind::none: ok = accel_->unroute_port(route.guest_port); break;
    }
    // Unrouted, a send still works: it exits and EventChannels delivers it.
    if (!ok)
      spdlog::warn("kvm: event channel {} not {} in the kernel", route.guest_port,
                   route.kind == KernelRoute::Kind::none ? "unrouted" : "routed");
  });
}

void Vm::kick_vcpu(std::uint32_t vcpu) {
  if (vcpu < vcpus_.size()) vcpus_[vcpu]->interrupt();
}

std::expected<void, std::string> Vm::set_pvh_entry(std::uint32_t entry, std::uint32_t start_info) {
  Vcpu& bsp = *vcpus_.front();
  auto sregs = bsp.sregs();
  if (!sregs) return std::unexpected(sregs.error());
  kvm_regs regs{};
  set_pvh_entry_state(*sregs, regs, entry, start_info);
  if (auto r = bsp.fd().set_sregs(*sregs); !r) return r;
  return bsp.set_regs(regs);
}

VmOutcome Vm::run() {
  // Without an in-kernel LAPIC only the boot vCPU can run; with one, APs wait in KVM for INIT/SIPI.
  if (transport_ == TransportKind::kvm_xen) {
    for (auto& vcpu : vcpus_) vcpu->start();
  } else {
    vcpus_.front()->start();
  }
  std::unique_lock lock(state_mutex_);
  stopped_cv_.wait(lock, [this] { return outcome_.has_value(); });
  const VmOutcome outcome = *outcome_;
  lock.unlock();
  for (auto& vcpu : vcpus_) vcpu->stop();
  for (auto& vcpu : vcpus_) vcpu->join();
  return outcome;
}

void Vm::stop(ShutdownReason reason, std::string detail) {
  {
    std::lock_guard lock(state_mutex_);
    if (outcome_) return;  // the first reason wins
    outcome_ = VmOutcome{reason, std::move(detail)};
  }
  stopped_cv_.notify_all();
  if (lifecycle_) lifecycle_->vm_ended(reason == ShutdownReason::poweroff, reason == ShutdownReason::reboot);
  hypercalls_->sched_poll().stop();  // a vCPU waiting in SCHEDOP_poll returns to its loop
  if (platform_) platform_->stop_timers();
  for (auto& vcpu : vcpus_) vcpu->stop();
}

void Vm::log_vcpu_states() {
  std::vector<std::future<std::string>> states;
  for (auto& vcpu : vcpus_) states.push_back(vcpu->describe());
  // A vCPU inside a blocking hypercall answers when it returns; do not wait on it for long.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (std::size_t id = 0; id < states.size(); ++id) {
    if (states[id].wait_until(deadline) == std::future_status::ready)
      spdlog::warn("vcpu{}: {}", id, states[id].get());
    else
      spdlog::warn("vcpu{}: busy in kxen (a blocking hypercall) for over a second", id);
  }
}

HypercallOutcome Vm::hypercall(const HypercallRequest& request, GuestVirtual& virt) {
  return hypercalls_->dispatch(request, virt);
}

bool Vm::install_hypercall_page(std::uint64_t msr_value) {
  // Low bits select the page index; Xen advertises exactly one page in CPUID.
  if ((msr_value & (kPageSize - 1)) != 0) return false;
  const Gpa gpa = msr_value & ~(kPageSize - 1);
  if (!memory_.is_ram(gpa, kPageSize)) return false;
  auto page = memory_.span(gpa, kPageSize);
  if (!page) return false;
  fill_hypercall_page(std::span<std::byte, 4096>(page->data(), 4096));
  spdlog::debug("xen: hypercall page at {:#x}", gpa);
  return true;
}

void Vm::shutdown(ShutdownReason reason) {
  stop(reason, fmt::format("the guest requested SCHEDOP_shutdown reason {}", static_cast<std::uint32_t>(reason)));
}

void Vm::failed(std::string_view why) { stop(ShutdownReason::crash, std::string(why)); }

void Vm::guest_crashed(std::uint32_t vcpu, std::string_view why) {
  spdlog::error("vcpu{}: {}", vcpu, why);
  stop(ShutdownReason::crash, fmt::format("vcpu{}: {}", vcpu, why));
}

void Vm::guest_power(std::uint32_t vcpu, ShutdownReason reason, std::string_view how) {
  spdlog::info("vcpu{}: guest {} through the {}", vcpu, reason == ShutdownReason::reboot ? "reboots" : "powers off",
               how);
  stop(reason, std::string(how));
}

void Vm::vcpu_activity(std::uint32_t vcpu, VcpuActivity activity) {
  const int state = activity == VcpuActivity::running ? RUNSTATE_running
                    : activity == VcpuActivity::blocked ? RUNSTATE_blocked
                                                        : RUNSTATE_offline;
  platform_->vcpu_runstate(vcpu, state);
}

void Vm::console_output(std::string_view bytes) { services_->console().write_host_output(bytes); }

std::size_t Vm::console_input(std::span<char> out) { return services_->console().read_early_input(out); }

}  // namespace kxen
