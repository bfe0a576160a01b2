#include "kvm/vcpu.hpp"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kxen {

namespace {
// Real-time signal used only to pull a vCPU thread out of KVM_RUN.
int kick_signal() { return SIGRTMIN + 1; }
using Clock = std::chrono::steady_clock;
}  // namespace

namespace {
// The vCPU whose loop runs on this thread, if any.
thread_local const Vcpu* current_vcpu = nullptr;
}  // namespace

Vcpu::Vcpu(std::uint32_t id, VcpuFd fd, ExitServices& services)
    : id_(id), fd_(std::move(fd)), services_(services), exits_(id, *this, services) {}

Vcpu::~Vcpu() {
  stop();
  join();
}

void Vcpu::install_kick_signal() {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};  // no SA_RESTART: the pending KVM_RUN returns EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(kick_signal(), &sa, nullptr);
}

void Vcpu::start() {
  // Under the lock: stop() and interrupt() from other threads see thread_ whole or not at all.
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  running_ = true;
  thread_ = std::thread([this] { loop(); });
  const std::string name = fmt::format("kxen-vcpu{}", id_);
  pthread_setname_np(thread_.native_handle(), name.c_str());
  signalable_ = true;
}

void Vcpu::signal_thread_locked() {
  if (signalable_) pthread_kill(thread_.native_handle(), kick_signal());
}

void Vcpu::stop() {
  stopping_.store(true);
  fd_.request_immediate_exit();
  {
    std::lock_guard lock(mutex_);
    kicked_ = true;
    signal_thread_locked();
  }
  wake_.notify_all();
}

void Vcpu::join() {
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable() || current_vcpu == this) return;
    signalable_ = false;  // the handle dies with the join
  }
  thread_.join();
}

void Vcpu::kick() {
  {
    std::lock_guard lock(mutex_);
    kicked_ = true;
  }
  wake_.notify_all();
}

void Vcpu::interrupt() {
  {
    std::lock_guard lock(mutex_);
    kicked_ = true;
    if (running_) {
      fd_.request_immediate_exit();
      signal_thread_locked();
    }
  }
  wake_.notify_all();
}

void Vcpu::wait_while_halted() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return kicked_ || stopping_.load() || !posted_.empty() || park_requested_; });
    if (kicked_ || stopping_.load() || !posted_.empty()) break;
    park_locked(lock);  // a debugger stop while halted: still halted after it
  }
  kicked_ = false;
}

void Vcpu::request_park() {
  {
    std::lock_guard lock(mutex_);
    park_requested_ = true;
    if (running_) {
      fd_.request_immediate_exit();
      signal_thread_locked();
    }
  }
  wake_.notify_all();
}

void Vcpu::release() {
  {
    std::lock_guard lock(mutex_);
    park_requested_ = false;
  }
  wake_.notify_all();
}

bool Vcpu::parked() {
  std::lock_guard lock(mutex_);
  return parked_ || !running_;
}

bool Vcpu::wait_parked(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return parked_cv_.wait_until(lock, deadline, [this] { return parked_ || !running_; });
}

void Vcpu::park_locked(std::unique_lock<std::mutex>& lock) {
  parked_ = true;
  parked_cv_.notify_all();
  wake_.wait(lock, [this] { return !park_requested_ || stopping_.load() || !posted_.empty(); });
  parked_ = false;
}

bool Vcpu::park_if_requested() {
  std::unique_lock lock(mutex_);
  if (!park_requested_ || stopping_.load()) return false;
  park_locked(lock);
  return true;
}

bool Vcpu::call_outside_run(const std::function<bool(VcpuFd&)>& fn) {
  if (current_vcpu == this) return fn(fd_);
  struct Outside {
    std::atomic<int>& count;
    explicit Outside(std::atomic<int>& c) : count(c) { count.fetch_add(1); }
    ~Outside() { count.fetch_sub(1); }
  } outside(outside_callers_);
  {
    std::lock_guard lock(mutex_);
    if (running_) {
      fd_.request_immediate_exit();
      signal_thread_locked();
    }
  }
  return fn(fd_);
}

void Vcpu::wait_for_outside_callers() {
  // Bounded by one vCPU ioctl of another thread, which waits for nothing of ours.
  while (outside_callers_.load() > 0 && !stopping_.load()) std::this_thread::yield();
}

std::expected<void, std::string> Vcpu::complete_exit() {
  fd_.request_immediate_exit();
  const int err = fd_.run();
  if (err == 0 || err == EINTR) return {};
  return std::unexpected(fmt::format("KVM_RUN completing an exit failed: {}", std::strerror(err)));
}

namespace {
std::string mp_state_name(std::uint32_t state) {
  switch (state) {
    case KVM_MP_STATE_RUNNABLE: return "runnable";
    case KVM_MP_STATE_UNINITIALIZED: return "waiting for INIT/SIPI";
    case KVM_MP_STATE_INIT_RECEIVED: return "INIT received";
    case KVM_MP_STATE_HALTED: return "halted in KVM";
    case KVM_MP_STATE_SIPI_RECEIVED: return "SIPI received";
    default: return fmt::format("mp_state {}", state);
  }
}

std::string describe_fd(const VcpuFd& fd) {
  auto regs = fd.regs();
  auto sregs = fd.sregs();
  auto mp = fd.mp_state();
  if (!regs || !sregs) return regs ? sregs.error() : regs.error();
  return fmt::format("{}, rip={:#x} rsp={:#x} rflags={:#x} cs={:#x} cr3={:#x} rax={:#x}",
                     mp ? mp_state_name(*mp) : mp.error(), regs->rip, regs->rsp, regs->rflags,
                     sregs->cs.selector, sregs->cr3, regs->rax);
}
}  // namespace

std::future<std::string> Vcpu::describe() {
  auto promise = std::make_shared<std::promise<std::string>>();
  auto future = promise->get_future();
  auto task = [this, promise] { promise->set_value(describe_fd(fd_) + "; " + exits_.stats().summary()); };
  {
    std::unique_lock lock(mutex_);
    if (running_ && current_vcpu != this) {
      posted_.emplace_back(std::move(task));
      // Out of KVM_RUN (or a halt in kxen) so the loop runs the posted task; the guest goes on after.
      fd_.request_immediate_exit();
      signal_thread_locked();
      lock.unlock();
      wake_.notify_all();
      return future;
    }
  }
  task();  // not running: nothing else touches the fd or the statistics
  return future;
}

void Vcpu::run_posted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

void Vcpu::run_guest() {
  services_.vcpu_activity(id_, VcpuActivity::running);
  while (!stopping_.load()) {
    // Clear first: a kick or post arriving after this sets it again and KVM_RUN returns at once.
    fd_.clear_immediate_exit();
    wait_for_outside_callers();
    run_posted();
    if (park_if_requested()) continue;  // back to the top: posted work, outside callers, stop
    if (stopping_.load()) break;
    const auto entered = Clock::now();
    const int err = fd_.run();
    const auto exited = Clock::now();
    exits_.stats().add(ExitStats::Phase::guest, exited - entered);
    if (err == EINTR || err == EAGAIN) continue;  // kicked, or KVM wants a retry
    if (err != 0) {
      spdlog::error("vcpu{}: KVM_RUN failed: {}", id_, std::strerror(err));
      exits_.fail(fmt::format("KVM_RUN failed: {}", std::strerror(err)));
      break;
    }
    const ExitAction action = exits_.handle(*fd_.run_area());
    const auto handled = Clock::now();
    exits_.stats().add(ExitStats::Phase::handling, handled - exited);
    if (action == ExitAction::stop) break;
    if (action == ExitAction::park) continue;  // the debugger asked every vCPU to park
    if (action == ExitAction::halt) {
      services_.vcpu_activity(id_, VcpuActivity::blocked);
      wait_while_halted();
      services_.vcpu_activity(id_, VcpuActivity::running);
      exits_.stats().add(ExitStats::Phase::halted, Clock::now() - handled);
    }
  }
}

void Vcpu::loop() {
  current_vcpu = this;
  spdlog::debug("vcpu{}: running", id_);
  try {
    run_guest();
  } catch (const std::bad_alloc&) {
    exits_.fail("kxen ran out of memory serving this vCPU");
  } catch (const std::exception& e) {
    exits_.fail(fmt::format("kxen internal error serving this vCPU: {}", e.what()));
  }
  services_.vcpu_activity(id_, VcpuActivity::offline);
  spdlog::info("vcpu{}: {}", id_, exits_.stats().summary());
  {
    std::lock_guard lock(mutex_);
    running_ = false;
  }
  parked_cv_.notify_all();
  // Work posted meanwhile still runs (the fd outlives the thread) so no promise is left unset.
  run_posted();
  spdlog::debug("vcpu{}: stopped", id_);
}

}  // namespace kxen
