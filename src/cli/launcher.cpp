#include "cli/launcher.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <fmt/format.h>
#include <iostream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <thread>

#include "blk/disk_set.hpp"
#include "boot/kernel_cache.hpp"
#include "boot/kernel_file.hpp"
#include "console/terminal.hpp"
#include "boot/pvh_boot.hpp"
#include "cli/exit_codes.hpp"
#include "boot/acpi/acpi_tables.hpp"
#include "vmm/vm.hpp"

namespace kxen {

namespace {

void setup_logging(int verbosity) {
  // stdout is the guest's console: every log line goes to stderr.
  auto logger = spdlog::stderr_color_mt("kxen");
  logger->set_pattern("kxen %^%l%$: %v");
  spdlog::set_default_logger(logger);
  const spdlog::level::level_enum levels[] = {spdlog::level::warn, spdlog::level::info, spdlog::level::debug,
                                              spdlog::level::trace};
  spdlog::set_level(levels[std::min(verbosity, 3)]);
}

int fail(int code, const std::string& message) {
  std::cerr << "kxen: " << message << "\n";
  return code;
}

std::uint64_t host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
}

// Inputs read and checked before KVM is touched, so file mistakes are reported on any host.
struct GuestInputs {
  boot::MemoryLayout layout;
  boot::ElfImage kernel;
  std::optional<std::vector<std::byte>> initrd;
  std::vector<std::shared_ptr<xenbus::BackendFactory>> devices;  // open and locked for kxen's lifetime
};

// The kernel cache to use: none when off; a directory the user named must be usable.
std::expected<std::optional<boot::KernelCache>, std::string> kernel_cache_of(const RunOptions& options) {
  if (options.no_kernel_cache) return std::nullopt;
  if (options.kernel_cache_dir) {
    boot::KernelCache cache(*options.kernel_cache_dir);
    if (auto err = cache.create_dir()) return std::unexpected("--kernel-cache " + *err);
    return cache;
  }
  const auto dir = boot::KernelCache::default_dir();
  if (!dir) return std::nullopt;
  boot::KernelCache cache(*dir);
  if (auto err = cache.create_dir()) {
    spdlog::debug("boot: no kernel cache: {}", *err);
    return std::nullopt;
  }
  return cache;
}

std::expected<GuestInputs, std::string> read_inputs(const RunOptions& options) {
  auto layout = boot::ram_layout(options.memory_bytes, host_memory_bytes());
  if (!layout) return std::unexpected(layout.error());
  if (auto err = boot::check_cmdline(options.cmdline)) return std::unexpected(*err);
  auto cache = kernel_cache_of(options);
  if (!cache) return std::unexpected(cache.error());
  auto kernel = boot::load_kernel_file(options.kernel, *cache ? &**cache : nullptr);
  if (!kernel) return std::unexpected(kernel.error());
  GuestInputs inputs{std::move(*layout), std::move(*kernel), std::nullopt, {}};
  if (options.initrd) {
    auto initrd = boot::read_host_file(*options.initrd, boot::kMaxInitrdFile);
    if (!initrd) return std::unexpected(initrd.error());
    inputs.initrd = std::move(*initrd);
  }
  auto disks = blk::open_disks(options.disks);
  if (!disks) return std::unexpected(disks.error());
  inputs.devices = std::move(*disks);
  return inputs;
}

int exit_code_for(const VmOutcome& outcome) {
  switch (outcome.reason) {
    case ShutdownReason::poweroff: return kExitPoweroff;
    case ShutdownReason::reboot: return kExitGuestReboot;
    case ShutdownReason::suspend: return kExitGuestSuspend;
    case ShutdownReason::crash:
    case ShutdownReason::watchdog:
    case ShutdownReason::soft_reset: break;
  }
  return kExitGuestCrash;
}

// A booted VM, or the exit code and line that say why there is none.
struct BootFailure {
  int code;
  std::string message;
};

std::expected<std::unique_ptr<Vm>, BootFailure> boot_vm(const RunOptions& options, const GuestInputs& inputs) {
  VmConfig config;
  for (const auto& r : inputs.layout.ram) config.ram.push_back(RamRange{r.gpa, r.size});
  config.vcpus = options.vcpus;
  config.transport = options.transport;
  config.kvm_path = options.kvm_path;
  config.prefault_memory = options.prefault_memory;
  const auto& layout = inputs.layout;
  for (const auto& e : layout.e820)
    config.platform.memory_map.push_back({e.addr, e.size, static_cast<std::uint32_t>(e.type)});
  config.platform.ram_pages = options.memory_bytes >> kPageShift;
  config.platform.console_pfn = layout.special.console_pfn();
  config.platform.store_pfn = layout.special.xenstore_pfn();
  config.platform.evtchn_abi = options.evtchn_abi;
  config.services.memory_kib = options.memory_bytes >> 10;
  config.services.devices = inputs.devices;

  auto vm = Vm::create(config);
  if (!vm) return std::unexpected(BootFailure{vm.error().starts_with("--") ? kExitUsage : kExitError, vm.error()});

  // MADT: one LAPIC per vCPU and the IOAPIC only where KVM emulates them (the kvm-xen transport);
  // elsewhere no MADT, as CPUID shows no APIC there.
  const bool kvm_irqchip = (*vm)->transport() == TransportKind::kvm_xen;
  auto rsdp = boot::acpi::write_acpi_tables(
      (*vm)->memory(), boot::acpi::AcpiConfig{.vcpus = options.vcpus, .ioapic = kvm_irqchip, .lapic = kvm_irqchip});
  if (!rsdp) return std::unexpected(BootFailure{kExitUsage, rsdp.error()});

  boot::BootConfig boot_config;
  boot_config.kernel_path = options.kernel;
  boot_config.initrd_path = options.initrd;
  boot_config.cmdline = options.cmdline;
  boot_config.rsdp_gpa = *rsdp;
  boot_config.layout = inputs.layout;
  std::optional<std::span<const std::byte>> initrd;
  if (inputs.initrd) initrd = std::span<const std::byte>(*inputs.initrd);
  auto image = boot::load_pvh_image((*vm)->memory(), inputs.kernel, initrd, boot_config);
  if (!image) return std::unexpected(BootFailure{kExitUsage, image.error()});
  if (auto r = (*vm)->set_pvh_entry(static_cast<std::uint32_t>(image->entry),
                                    static_cast<std::uint32_t>(image->start_info));
      !r)
    return std::unexpected(BootFailure{kExitError, r.error()});
  spdlog::info("boot: entry {:#x}, start_info {:#x}, RSDP {:#x}, {} MiB, {} vCPU(s)", image->entry,
               image->start_info, *rsdp, options.memory_bytes >> 20, options.vcpus);
  return std::move(*vm);
}

// Turns SIGTERM/SIGINT into a clean guest shutdown, with a hard stop after the timeout or a second
// signal; SIGUSR1 logs where each vCPU is.
// Lock order: mutex_ → Vm::state_mutex_ (through Vm::stop).
class StopSignals final {
 public:
  StopSignals(const sigset_t& signals, double timeout_s) : signals_(signals), timeout_(timeout_s) {
    waiter_ = std::thread([this] { wait_for_signals(); });
  }
  ~StopSignals() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    pthread_kill(waiter_.native_handle(), SIGUSR2);
    waiter_.join();
    if (timer_.joinable()) timer_.join();
  }

  // The VM signals act on; nullptr between boots.
  void attach(Vm* vm) {
    {
      std::lock_guard lock(mutex_);
      vm_ = vm;
    }
    cv_.notify_all();
  }
  int signal() const { return signal_.load(); }
  bool hard_stopped() const { return hard_stopped_.load(); }

 private:
  void wait_for_signals() {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals_, &sig) != 0 || sig == SIGUSR2) return;
      std::lock_guard lock(mutex_);
      if (done_) return;
      if (sig == SIGUSR1) {
        if (vm_) vm_->log_vcpu_states();
        continue;
      }
      if (signal_.exchange(sig) != 0 || timeout_.count() <= 0 || !vm_) {
        hard_stop_locked(fmt::format("stopped by signal {}", sig));
        continue;
      }
      if (!vm_->request_guest_shutdown("poweroff"))
        spdlog::warn("shutdown: the guest has not announced control/feature-poweroff; it may not react");
      spdlog::info("shutdown: signal {}: asked the guest to power off; stopping it in {} s", sig, timeout_.count());
      timer_ = std::thread([this] { expire(); });
    }
  }

  void expire() {
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, timeout_, [this] { return done_ || vm_ == nullptr; })) return;
    hard_stop_locked(fmt::format("the guest did not power off within {} s", timeout_.count()));
  }

  void hard_stop_locked(std::string why) {
    console::restore_terminals();  // the user gets their terminal back even if shutdown stalls
    hard_stopped_ = true;
    spdlog::warn("shutdown: {}", why);
    if (vm_) vm_->stop(ShutdownReason::poweroff, std::move(why));
  }

  sigset_t signals_;
  std::chrono::duration<double> timeout_;
  std::mutex mutex_;
  std::condition_variable cv_;
  Vm* vm_ = nullptr;
  bool done_ = false;
  std::atomic<int> signal_{0};
  std::atomic<bool> hard_stopped_{false};
  std::thread waiter_;
  std::thread timer_;
};

}  // namespace

int run_guest(const RunOptions& options) {
  setup_logging(options.verbosity);
  auto inputs = read_inputs(options);
  if (!inputs) return fail(kExitUsage, inputs.error());

  // Signals go to one waiter thread, never to vCPU threads (created after this mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);  // not a stop: log where each vCPU is
  sigaddset(&stop_signals, SIGUSR2);  // sent by us to retire the waiter
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  StopSignals signals(stop_signals, options.shutdown_timeout_s);

  for (unsigned boot = 1;; ++boot) {
    auto vm = boot_vm(options, *inputs);
    if (!vm) return fail(vm.error().code, vm.error().message);
    signals.attach(vm->get());
    if (signals.signal() != 0) (*vm)->stop(ShutdownReason::poweroff, "stopped by a signal between boots");
    const VmOutcome outcome = (*vm)->run();
    signals.attach(nullptr);

    if (signals.hard_stopped()) return 128 + signals.signal();
    if (outcome.reason == ShutdownReason::crash) spdlog::error("guest crashed: {}", outcome.detail);
    if (outcome.reason == ShutdownReason::reboot && options.on_reboot == OnReboot::restart && signals.signal() == 0) {
      spdlog::info("boot: the guest rebooted; starting it again (boot {})", boot + 1);
      continue;
    }
    return exit_code_for(outcome);
  }
}

}  // namespace kxen
