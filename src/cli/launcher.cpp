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
#include "net/nic_set.hpp"
#include "console/terminal.hpp"
#include "cli/exit_codes.hpp"
#include "gdb/server.hpp"
#include "vmm/vm_builder.hpp"

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

// The flags mapped onto one VM description; disks are opened (and locked) and NICs' host ports
// opened here, before KVM.
std::expected<VmDescription, std::string> describe(const RunOptions& options) {
  VmDescription d;
  d.kernel = options.kernel;
  d.initrd = options.initrd;
  d.cmdline = options.cmdline;
  d.memory_bytes = options.memory_bytes;
  d.vcpus = options.vcpus;
  d.transport = options.transport;
  d.evtchn_abi = options.evtchn_abi;
  d.kvm_path = options.kvm_path;
  d.prefault_memory = options.prefault_memory;
  d.kernel_cache_dir = options.kernel_cache_dir;
  d.no_kernel_cache = options.no_kernel_cache;
  auto disks = blk::open_disks(options.disks);
  if (!disks) return std::unexpected(disks.error());
  d.devices = std::move(*disks);
  auto nics = net::open_nics(options.nets, d.name);
  if (!nics) return std::unexpected(nics.error());
  d.devices.insert(d.devices.end(), nics->begin(), nics->end());
  return d;
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
  auto description = describe(options);
  if (!description) return fail(kExitUsage, description.error());
  auto inputs = load_boot_inputs(*description);
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
  std::unique_ptr<gdb::GdbServer> gdb_server;  // listens before the first boot, serves every boot
  if (options.gdb) {
    auto server = gdb::GdbServer::listen(*gdb::parse_endpoint(*options.gdb));
    if (!server) return fail(kExitUsage, server.error());
    gdb_server = std::move(*server);
  }

  for (unsigned boot = 1;; ++boot) {
    auto vm = build_vm(*description, *inputs);
    if (!vm) return fail(vm.error().usage ? kExitUsage : kExitError, vm.error().message);
    signals.attach(vm->get());
    if (signals.signal() != 0) (*vm)->stop(ShutdownReason::poweroff, "stopped by a signal between boots");
    if (gdb_server) {
      // Parked before the first instruction: for --gdb-wait, or for a connected gdb's breakpoints.
      if ((options.gdb_wait && boot == 1) || gdb_server->has_client()) (*vm)->lifecycle().request_pause_all();
      gdb_server->serve(**vm);
    }
    const VmOutcome outcome = (*vm)->run();
    const bool restart = outcome.reason == ShutdownReason::reboot && options.on_reboot == OnReboot::restart &&
                         signals.signal() == 0 && !signals.hard_stopped();
    if (gdb_server) gdb_server->end_vm(!restart);
    signals.attach(nullptr);

    if (signals.hard_stopped()) return 128 + signals.signal();
    if (outcome.reason == ShutdownReason::crash) spdlog::error("guest crashed: {}", outcome.detail);
    if (restart) {
      spdlog::info("boot: the guest rebooted; starting it again (boot {})", boot + 1);
      continue;
    }
    return exit_code_for(outcome);
  }
}

}  // namespace kxen
