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
  running_ = true;
  thread_ = std::thread([this] { loop(); });
  const std::string name = fmt::format("kxen-vcpu{}", id_);
  pthread_setname_np(thread_.native_handle(), name.c_str());
}

void Vcpu::stop() {
  stopping_.store(true);
  fd_.request_immediate_exit();
  {
    std::lock_guard lock(mutex_);
    kicked_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) pthread_kill(thread_.native_handle(), kick_signal());
}

void Vcpu::join() {
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Vcpu::kick() {
  {
    std::lock_guard lock(mutex_);
    kicked_ = true;
  }
  wake_.notify_all();
}

void Vcpu::interrupt() {
  kick();
  if (!running_.load()) return;
  fd_.request_immediate_exit();
  pthread_kill(thread_.native_handle(), kick_signal());
}

void Vcpu::wait_while_halted() {
  std::unique_lock lock(mutex_);
  wake_.wait(lock, [this] { return kicked_ || stopping_.load() || !posted_.empty(); });
  kicked_ = false;
}

bool Vcpu::run_on_vcpu(const std::function<bool(VcpuFd&)>& fn) {
  if (!running_.load() || std::this_thread::get_id() == thread_.get_id()) return fn(fd_);
  std::packaged_task<bool()> task([this, &fn] { return fn(fd_); });
  auto result = task.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_.load()) return false;
    posted_.push_back(std::move(task));
  }
  fd_.request_immediate_exit();
  wake_.notify_all();
  pthread_kill(thread_.native_handle(), kick_signal());
  return result.get();
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
  auto task = [this, promise] {
    promise->set_value(describe_fd(fd_) + "; " + exits_.stats().summary());
    return true;
  };
  if (!running_.load() || std::this_thread::get_id() == thread_.get_id()) {
    task();
    return future;
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_.load()) {
      promise->set_value("stopping");
      return future;
    }
    posted_.emplace_back(task);
  }
  // Out of KVM_RUN (or a halt in kxen) so the loop runs the posted task; the guest goes on after.
  fd_.request_immediate_exit();
  wake_.notify_all();
  pthread_kill(thread_.native_handle(), kick_signal());
  return future;
}

void Vcpu::run_posted() {
  std::vector<std::packaged_task<bool()>> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

void Vcpu::loop() {
  spdlog::debug("vcpu{}: running", id_);
  services_.vcpu_activity(id_, VcpuActivity::running);
  while (!stopping_.load()) {
    // Clear first: a kick or post arriving after this sets it again and KVM_RUN returns at once.
    fd_.clear_immediate_exit();
    run_posted();
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
    if (action == ExitAction::halt) {
      services_.vcpu_activity(id_, VcpuActivity::blocked);
      wait_while_halted();
      services_.vcpu_activity(id_, VcpuActivity::running);
      exits_.stats().add(ExitStats::Phase::halted, Clock::now() - handled);
    }
  }
  services_.vcpu_activity(id_, VcpuActivity::offline);
  spdlog::info("vcpu{}: {}", id_, exits_.stats().summary());
  // Work posted meanwhile still runs (the fd outlives the thread) so no poster waits forever.
  running_ = false;
  run_posted();
  spdlog::debug("vcpu{}: stopped", id_);
}

}  // namespace kxen
