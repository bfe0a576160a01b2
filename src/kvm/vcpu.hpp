// One vCPU: its KVM fd, its thread running the KVM_RUN loop, and halt/kick/stop signalling.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kvm/exit_handler.hpp"
#include "kvm/vcpu_fd.hpp"

namespace kxen {

// Lock order: Vcpu::mutex_ is a leaf; exit handling runs without it.
//
// Other threads never wait for this vCPU's thread to do something for them: they post work it
// picks up on its own (describe), or make their vCPU ioctl themselves after forcing it out of
// KVM_RUN (call_outside_run), which only waits for KVM to drop the vCPU's mutex.
class Vcpu final : public VcpuRegisters {
 public:
  Vcpu(std::uint32_t id, VcpuFd fd, ExitServices& services);
  ~Vcpu() override;
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  // Installs the process-wide kick signal handler; call once before any vCPU runs.
  static void install_kick_signal();

  // Starts the thread; once, by the owner.
  void start();
  // Asks the loop to leave KVM_RUN and exit; safe from any thread at any time, idempotent.
  void stop();
  // Waits for the thread to end; by the owner, after stop().
  void join();
  // Wakes a halted vCPU (an event became pending); harmless when it is running.
  void kick();
  // Makes the vCPU leave KVM_RUN once so KVM re-evaluates pending upcalls; also wakes a halt.
  void interrupt();

  // Runs fn (a vCPU ioctl) on the calling thread once this vCPU is out of KVM_RUN: KVM holds
  // the vCPU's mutex during KVM_RUN, so it is kicked out and kept out until fn returns. Never
  // waits for the vCPU's thread to reach any point of kxen's own code.
  bool call_outside_run(const std::function<bool(VcpuFd&)>& fn);
  // Where the vCPU is (registers, KVM's run state) and its exit statistics, read on its own
  // thread; the future stays unready while the vCPU is busy in a long hypercall.
  std::future<std::string> describe();

  // Debugger run control (vmm/vm_lifecycle). request_park() returns at once: the vCPU leaves
  // KVM_RUN (or its halt) and parks at the top of its loop until release(). A vCPU that is not
  // running (not started, or ended) counts as parked.
  void request_park();
  void release();
  bool parked();
  // Waits (bounded) until the vCPU is parked; false at the deadline. Never call on a vCPU thread.
  bool wait_parked(std::chrono::steady_clock::time_point deadline);

  std::uint32_t id() const { return id_; }
  // The exit statistics; its own thread's, so read them only while it is parked or stopped.
  const ExitStats& exit_stats() { return exits_.stats(); }
  VcpuFd& fd() { return fd_; }
  std::expected<kvm_regs, std::string> regs() override { return fd_.regs(); }
  std::expected<void, std::string> set_regs(const kvm_regs& r) override { return fd_.set_regs(r); }
  std::expected<kvm_sregs, std::string> sregs() override { return fd_.sregs(); }
  std::expected<void, std::string> complete_exit() override;

 private:
  void loop();
  void run_guest();
  void wait_while_halted();
  // Parks while park_requested_; true if it parked. Takes mutex_.
  bool park_if_requested();
  void park_locked(std::unique_lock<std::mutex>& lock);
  void run_posted();
  void wait_for_outside_callers();
  // Sends the kick signal if the thread exists and has not been joined. mutex_ held.
  void signal_thread_locked();

  std::uint32_t id_;
  VcpuFd fd_;
  ExitServices& services_;
  ExitHandler exits_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> outside_callers_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool kicked_ = false;
  bool signalable_ = false;  // thread_ is set and not yet joined
  bool running_ = false;     // the loop runs (posted work is picked up)
  bool park_requested_ = false;
  bool parked_ = false;
  std::condition_variable parked_cv_;  // parked_ or running_ changed
  std::vector<std::function<void()>> posted_;
};

}  // namespace kxen
