// Real Vcpu threads on this machine's /dev/kvm: start, stop, interrupt, describe and cross-vCPU
// ioctls racing each other. Also built under TSan ("[threads]"), which sees the races directly.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "kvm/kvm_system.hpp"
#include "kvm/pvh_entry.hpp"
#include "kvm/vcpu.hpp"
#include "kvm/vm_fd.hpp"

using namespace kxen;
using namespace std::chrono_literals;

namespace {

constexpr Gpa kCodeGpa = 0x100000;
// 32-bit: `1: out %eax, $0x5a; jmp 1b` -- a hypercall-page stub's OUT issued forever.
constexpr std::uint8_t kHypercallLoop[] = {0xe7, 0x5a, 0xeb, 0xfc};

// Each vCPU's hypercall asks the other vCPU for its registers, as VCPUOP_get_runstate_info(peer)
// or registering a peer's vcpu_info does through KVM's vCPU ioctls.
struct CrossServices final : ExitServices {
  GuestMemory& mem;
  std::vector<std::unique_ptr<Vcpu>>& vcpus;
  std::atomic<int> calls[2]{};
  std::atomic<int> answered[2]{};
  std::atomic<bool> crashed{false};

  CrossServices(GuestMemory& m, std::vector<std::unique_ptr<Vcpu>>& v) : mem(m), vcpus(v) {}
  GuestMemory& memory() override { return mem; }
  HypercallOutcome hypercall(const HypercallRequest& request, GuestVirtual&) override {
    const std::uint32_t self = request.vcpu;
    if (vcpus.size() > 1) {
      Vcpu& peer = *vcpus[1 - self];
      if (peer.call_outside_run([](VcpuFd& fd) { return fd.regs().has_value(); })) ++answered[self];
    }
    ++calls[self];
    return {0, VcpuAction::resume};
  }
  void debug_console_write(std::string_view) override {}
  bool install_hypercall_page(std::uint64_t) override { return false; }
  void guest_crashed(std::uint32_t, std::string_view why) override {
    std::fprintf(stderr, "vcpu test guest crashed: %.*s\n", static_cast<int>(why.size()), why.data());
    crashed = true;
  }
  void guest_power(std::uint32_t, ShutdownReason, std::string_view) override {}
};

// One VM whose vCPUs all run the hypercall loop in 32-bit protected mode.
struct LoopVm {
  KvmSystem kvm;
  VmFd vm;
  GuestMemory mem;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
  CrossServices services{mem, vcpus};

  static KvmSystem open_kvm() {
    auto kvm = KvmSystem::open();
    if (!kvm) {
      // These tests exist to run real vCPU threads: a machine without KVM fails them loudly.
      FAIL("cannot open /dev/kvm: " << kvm.error());
    }
    return std::move(*kvm);
  }
  static VmFd create_vm(const KvmSystem& kvm) {
    auto fd = kvm.create_vm();
    REQUIRE(fd);
    return VmFd(std::move(*fd));
  }

  explicit LoopVm(std::uint32_t count) : kvm(open_kvm()), vm(create_vm(kvm)) {
    Vcpu::install_kick_signal();
    REQUIRE_FALSE(mem.add_ram(0, 2 << 20));
    for (const auto& region : mem.regions()) REQUIRE(vm.set_memory_region(region));
    REQUIRE(mem.write(kCodeGpa, std::as_bytes(std::span(kHypercallLoop))));
    for (std::uint32_t id = 0; id < count; ++id) {
      auto fd = vm.create_vcpu(id);
      REQUIRE(fd);
      auto vcpu_fd = VcpuFd::create(std::move(*fd), kvm.vcpu_mmap_size());
      REQUIRE(vcpu_fd);
      auto cpuid = kvm.supported_cpuid();
      REQUIRE(cpuid);
      REQUIRE(vcpu_fd->set_cpuid(*cpuid));
      auto sregs = vcpu_fd->sregs();
      REQUIRE(sregs);
      kvm_regs regs{};
      set_pvh_entry_state(*sregs, regs, kCodeGpa, 0);
      regs.rax = 17;  // the hypercall number the OUT carries
      REQUIRE(vcpu_fd->set_sregs(*sregs));
      REQUIRE(vcpu_fd->set_regs(regs));
      vcpus.push_back(std::make_unique<Vcpu>(id, std::move(*vcpu_fd), services));
    }
  }
  ~LoopVm() {
    for (auto& v : vcpus) v->stop();
    for (auto& v : vcpus) v->join();
  }
};

// A deadlocked vCPU pair cannot be joined: end the test binary with a clear failure instead of
// hanging it.
template <class Pred>
void wait_or_die(Pred done, std::chrono::seconds limit, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "FAILED: %s within %lld s (deadlock?)\n", what, static_cast<long long>(limit.count()));
      std::_Exit(3);
    }
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace

TEST_CASE("two vCPUs that ask each other for their registers both keep running", "[kvm][vcpu][threads]") {
  LoopVm lvm(2);
  auto& s = lvm.services;
  for (auto& v : lvm.vcpus) v->start();
  wait_or_die([&] { return s.calls[0] >= 200 && s.calls[1] >= 200; }, 120s,
              "200 cross-vCPU requests from each side");
  for (auto& v : lvm.vcpus) v->stop();
  for (auto& v : lvm.vcpus) v->join();
  CHECK_FALSE(s.crashed);
  CHECK(s.answered[0] == s.calls[0]);
  CHECK(s.answered[1] == s.calls[1]);
}

TEST_CASE("stop, interrupt and describe may race a vCPU's start from other threads", "[kvm][vcpu][threads]") {
  for (int round = 0; round < 40; ++round) {
    LoopVm lvm(1);
    Vcpu& vcpu = *lvm.vcpus[0];
    std::atomic<bool> go{false}, done{false};
    std::thread poker([&] {
      while (!go) std::this_thread::yield();
      for (int i = 0; i < 200 && !done; ++i) {
        vcpu.interrupt();
        vcpu.kick();
        if (i % 50 == 0) (void)vcpu.describe();  // answered on the vCPU's thread, or here
      }
    });
    go = true;
    vcpu.start();
    if (round % 2 == 0) wait_or_die([&] { return lvm.services.calls[0] > 0; }, 60s, "the first hypercall");
    vcpu.stop();
    done = true;
    poker.join();
    vcpu.join();
    CHECK_FALSE(lvm.services.crashed);
  }
}

TEST_CASE("describe answers from a running vCPU and after it stopped", "[kvm][vcpu][threads]") {
  LoopVm lvm(1);
  Vcpu& vcpu = *lvm.vcpus[0];
  vcpu.start();
  wait_or_die([&] { return lvm.services.calls[0] > 3; }, 60s, "the first hypercalls");
  auto running = vcpu.describe();
  REQUIRE(running.wait_for(30s) == std::future_status::ready);
  CHECK(running.get().find("rip=0x10000") != std::string::npos);
  vcpu.stop();
  vcpu.join();
  auto stopped = vcpu.describe();
  REQUIRE(stopped.wait_for(1s) == std::future_status::ready);
  CHECK(stopped.get().find("exits") != std::string::npos);
}

TEST_CASE("a cross-vCPU ioctl reaches a vCPU that has not started and one that has stopped", "[kvm][vcpu][threads]") {
  LoopVm lvm(2);
  auto regs = [](VcpuFd& fd) { return fd.regs().has_value(); };
  CHECK(lvm.vcpus[1]->call_outside_run(regs));
  lvm.vcpus[1]->start();
  wait_or_die([&] { return lvm.services.calls[1] > 0; }, 60s, "vCPU 1's first hypercall");
  CHECK(lvm.vcpus[1]->call_outside_run(regs));  // from this (non-vCPU) thread while it runs
  lvm.vcpus[1]->stop();
  lvm.vcpus[1]->join();
  CHECK(lvm.vcpus[1]->call_outside_run(regs));
}

TEST_CASE("a debugger parks and releases running vCPUs, with bounded waits", "[kvm][vcpu][threads]") {
  LoopVm lvm(2);
  for (auto& v : lvm.vcpus) v->request_park();  // before start: parked at the first loop top
  for (auto& v : lvm.vcpus) CHECK(v->parked());
  for (auto& v : lvm.vcpus) v->start();
  for (auto& v : lvm.vcpus) CHECK(v->wait_parked(std::chrono::steady_clock::now() + 30s));
  CHECK(lvm.services.calls[0] == 0);
  for (int round = 0; round < 20; ++round) {
    for (auto& v : lvm.vcpus) v->release();
    wait_or_die([&] { return lvm.services.calls[0] > round && lvm.services.calls[1] > round; }, 60s,
                "hypercalls after a release");
    for (auto& v : lvm.vcpus) v->request_park();
    for (auto& v : lvm.vcpus) REQUIRE(v->wait_parked(std::chrono::steady_clock::now() + 30s));
    const int seen = lvm.services.calls[0];
    std::this_thread::sleep_for(2ms);
    CHECK(lvm.services.calls[0] == seen);  // parked means no guest instruction runs
    // A parked vCPU answers cross-vCPU ioctls and posted work at once.
    CHECK(lvm.vcpus[0]->call_outside_run([](VcpuFd& fd) { return fd.regs().has_value(); }));
    REQUIRE(lvm.vcpus[1]->describe().wait_for(30s) == std::future_status::ready);
  }
  for (auto& v : lvm.vcpus) v->stop();  // stop wins over a park
  for (auto& v : lvm.vcpus) v->join();
  CHECK_FALSE(lvm.services.crashed);
}
