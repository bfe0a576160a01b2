// One vCPU: its KVM fd, its thread running the KVM_RUN loop, and halt/kick/stop signalling.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <vector>
#include <mutex>
#include <thread>

#include "kvm/exit_handler.hpp"
#include "kvm/vcpu_fd.hpp"

namespace kxen {

// Lock order: Vcpu::mutex_ is a leaf; exit handling runs without it.
class Vcpu final : public VcpuRegisters {
 public:
  Vcpu(std::uint32_t id, VcpuFd fd, ExitServices& services);
  ~Vcpu() override;
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  // Installs the process-wide kick signal handler; call once before any vCPU runs.
  static void install_kick_signal();

  void start();
  // Asks the loop to leave KVM_RUN and exit; safe from any thread, idempotent.
  void stop();
  void join();
  // Wakes a halted vCPU (an event became pending); harmless when it is running.
  void kick();
  // Makes the vCPU leave KVM_RUN once so KVM re-evaluates pending upcalls; also wakes a halt.
  void interrupt();

  // Runs fn on this vCPU's own thread (KVM holds the vCPU's mutex during KVM_RUN, so other
  // threads' vCPU ioctls would wait for its next exit); directly when not running or on it.
  bool run_on_vcpu(const std::function<bool(VcpuFd&)>& fn);
  // Where the vCPU is (registers, KVM's run state) and its exit statistics, read on its own
  // thread; the future stays unready while the vCPU is busy in a long hypercall.
  std::future<std::string> describe();

  std::uint32_t id() const { return id_; }
  VcpuFd& fd() { return fd_; }
  std::expected<kvm_regs, std::string> regs() override { return fd_.regs(); }
  std::expected<void, std::string> set_regs(const kvm_regs& r) override { return fd_.set_regs(r); }
  std::expected<kvm_sregs, std::string> sregs() override { return fd_.sregs(); }

 private:
  void loop();
  void wait_while_halted();
  void run_posted();

  std::uint32_t id_;
  VcpuFd fd_;
  ExitServices& services_;
  ExitHandler exits_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool kicked_ = false;
  std::vector<std::packaged_task<bool()>> posted_;
  std::atomic<bool> running_{false};
};

}  // namespace kxen
