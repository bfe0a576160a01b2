#include "cli/launcher.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fmt/format.h>
#include <iostream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <thread>

#include "boot/kernel_file.hpp"
#include "console/terminal.hpp"
#include "boot/pvh_boot.hpp"
#include "cli/exit_codes.hpp"
#include "kvm/vm.hpp"

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
};

std::expected<GuestInputs, std::string> read_inputs(const RunOptions& options) {
  auto layout = boot::ram_layout(options.memory_bytes, host_memory_bytes());
  if (!layout) return std::unexpected(layout.error());
  if (auto err = boot::check_cmdline(options.cmdline)) return std::unexpected(*err);
  auto kernel = boot::load_kernel_file(options.kernel);
  if (!kernel) return std::unexpected(kernel.error());
  GuestInputs inputs{std::move(*layout), std::move(*kernel), std::nullopt};
  if (options.initrd) {
    auto initrd = boot::read_host_file(*options.initrd, boot::kMaxInitrdFile);
    if (!initrd) return std::unexpected(initrd.error());
    inputs.initrd = std::move(*initrd);
  }
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

}  // namespace

int run_guest(const RunOptions& options) {
  setup_logging(options.verbosity);
  auto inputs = read_inputs(options);
  if (!inputs) return fail(kExitUsage, inputs.error());

  VmConfig config;
  for (const auto& r : inputs->layout.ram) config.ram.push_back(RamRange{r.gpa, r.size});
  config.vcpus = options.vcpus;
  config.transport = options.transport;
  config.kvm_path = options.kvm_path;
  const auto& layout = inputs->layout;
  for (const auto& e : layout.e820)
    config.platform.memory_map.push_back({e.addr, e.size, static_cast<std::uint32_t>(e.type)});
  config.platform.ram_pages = options.memory_bytes >> kPageShift;
  config.platform.console_pfn = layout.special.console_pfn();
  config.platform.store_pfn = layout.special.xenstore_pfn();
  config.services.memory_kib = options.memory_bytes >> 10;
  // Signals go to one waiter thread, never to vCPU threads (created after this mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR2);  // sent by us to retire the waiter
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto vm = Vm::create(config);
  if (!vm) return fail(vm.error().starts_with("--") ? kExitUsage : kExitError, vm.error());

  boot::BootConfig boot_config;
  boot_config.kernel_path = options.kernel;
  boot_config.initrd_path = options.initrd;
  boot_config.cmdline = options.cmdline;
  boot_config.layout = inputs->layout;
  std::optional<std::span<const std::byte>> initrd;
  if (inputs->initrd) initrd = std::span<const std::byte>(*inputs->initrd);
  auto image = boot::load_pvh_image((*vm)->memory(), inputs->kernel, initrd, boot_config);
  if (!image) return fail(kExitUsage, image.error());
  if (auto r = (*vm)->set_pvh_entry(static_cast<std::uint32_t>(image->entry),
                                    static_cast<std::uint32_t>(image->start_info));
      !r)
    return fail(kExitError, r.error());
  spdlog::info("boot: entry {:#x}, start_info {:#x}, {} MiB, {} vCPU(s)", image->entry, image->start_info,
               options.memory_bytes >> 20, options.vcpus);

  std::atomic<int> stopped_by{0};
  std::thread signal_waiter([&] {
    int sig = 0;
    if (sigwait(&stop_signals, &sig) == 0 && sig != SIGUSR2) {
      console::restore_terminals();  // the user gets their terminal back even if shutdown stalls
      stopped_by = sig;
      (*vm)->stop(ShutdownReason::poweroff, fmt::format("stopped by signal {}", sig));
    }
  });
  const VmOutcome outcome = (*vm)->run();
  pthread_kill(signal_waiter.native_handle(), SIGUSR2);
  signal_waiter.join();

  if (stopped_by) return 128 + stopped_by;
  if (outcome.reason == ShutdownReason::crash) spdlog::error("guest crashed: {}", outcome.detail);
  return exit_code_for(outcome);
}

}  // namespace kxen
