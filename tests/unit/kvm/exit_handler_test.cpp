#include <catch2/catch.hpp>

#include <linux/kvm.h>

#include <cstring>
#include <string>
#include <vector>

#include <xen/grant_table.h>
#include <xen/xen.h>

#include "kvm/exit_handler.hpp"

using namespace kxen;

namespace {

// kvm_run plus room for PIO data, as KVM lays it out in the vCPU's mmap.
struct FakeRun {
  alignas(4096) std::byte bytes[8192]{};
  kvm_run& run() { return *reinterpret_cast<kvm_run*>(bytes); }
  void pio(std::uint16_t port, std::uint8_t direction, std::uint8_t size, std::uint32_t value) {
    run().exit_reason = KVM_EXIT_IO;
    run().io.port = port;
    run().io.direction = direction;
    run().io.size = size;
    run().io.count = 1;
    run().io.data_offset = 4096;
    std::memcpy(bytes + 4096, &value, size);
  }
  // A 64-bit Xen hypercall exit as KVM reports it.
  kvm_run& xen_hypercall(std::uint64_t nr, std::uint64_t arg0, std::uint64_t arg1 = 0) {
    run().exit_reason = KVM_EXIT_XEN;
    run().xen.type = KVM_EXIT_XEN_HCALL;
    run().xen.u.hcall.longmode = 1;
    run().xen.u.hcall.input = nr;
    run().xen.u.hcall.params[0] = arg0;
    run().xen.u.hcall.params[1] = arg1;
    return run();
  }
  std::uint32_t pio_data() const {
    std::uint32_t v;
    std::memcpy(&v, bytes + 4096, 4);
    return v;
  }
};

struct FakeRegisters final : VcpuRegisters {
  kvm_regs r{};
  kvm_sregs s{};
  int set_calls = 0;
  std::expected<kvm_regs, std::string> regs() override { return r; }
  std::expected<void, std::string> set_regs(const kvm_regs& v) override {
    r = v;
    ++set_calls;
    return {};
  }
  std::expected<kvm_sregs, std::string> sregs() override { return s; }
  // What KVM does on completion: the result into RAX, RIP past the trapping instruction.
  std::uint64_t completion_result = 0;
  std::uint64_t completion_step = 3;  // what KVM steps over; 0 where the exit's RIP is already past
  int completions = 0;
  int set_calls_at_completion = -1;
  std::expected<void, std::string> complete_exit() override {
    ++completions;
    set_calls_at_completion = set_calls;
    r.rax = completion_result;
    r.rip += completion_step;
    return {};
  }
  void long_mode(std::uint8_t cpl) {
    s.efer = (1u << 10) | (1u << 8);
    s.cr0 = 0x80000001;
    s.cs.l = 1;
    s.cs.dpl = cpl;
  }
};

struct FakeServices final : ExitServices {
  GuestMemory mem;
  std::vector<HypercallRequest> calls;
  HypercallOutcome next{42, VcpuAction::resume};
  std::string console;
  std::vector<std::uint64_t> msr_writes;
  std::string crashed;
  GuestMemory& memory() override { return mem; }
  HypercallOutcome hypercall(const HypercallRequest& request, GuestVirtual&) override {
    calls.push_back(request);
    return next;
  }
  void debug_console_write(std::string_view bytes) override { console += bytes; }
  bool install_hypercall_page(std::uint64_t value) override {
    msr_writes.push_back(value);
    return value == 0x5000;
  }
  void guest_crashed(std::uint32_t, std::string_view why) override { crashed = why; }
  std::vector<ShutdownReason> power;
  void guest_power(std::uint32_t, ShutdownReason reason, std::string_view) override { power.push_back(reason); }
  std::optional<ExitAction> debug_action;  // what a debugger answers; nullopt: none attached
  std::vector<std::uint64_t> debug_pcs;
  std::optional<ExitAction> debug_exit(std::uint32_t, const kvm_debug_exit_arch& arch) override {
    debug_pcs.push_back(arch.pc);
    return debug_action;
  }
};

// SLP_TYPx in bits 2..4, SLP_EN in bit 5, as ACPI defines the sleep control register.
std::uint8_t boot_acpi_sleep_value(unsigned type, bool enable) {
  return static_cast<std::uint8_t>((type << 2) | (enable ? 0x20 : 0));
}

}  // namespace

TEST_CASE("PIO hypercall exits decode the 64-bit ABI and return RAX", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  regs.long_mode(0);
  regs.r.rax = 17;
  regs.r.rdi = 1, regs.r.rsi = 2, regs.r.rdx = 3, regs.r.r10 = 4, regs.r.r8 = 5, regs.r.r9 = 6;
  ExitHandler handler(3, regs, services);
  fr.pio(kHypercallPort, KVM_EXIT_IO_OUT, 4, 17);
  services.next = {-38, VcpuAction::resume};

  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  REQUIRE(services.calls.size() == 1);
  const auto& call = services.calls[0];
  CHECK(call.nr == 17);
  CHECK(call.vcpu == 3);
  CHECK(call.long_mode);
  CHECK(call.args == std::array<std::uint64_t, 6>{1, 2, 3, 4, 5, 6});
  CHECK(static_cast<std::int64_t>(regs.r.rax) == -38);
}

TEST_CASE("PIO hypercall exits from 32-bit code use EBX.. and a 32-bit result", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  regs.s.cr0 = 1;
  regs.r.rax = 29;
  regs.r.rbx = 0x1'0000'0001, regs.r.rcx = 2, regs.r.rdx = 3, regs.r.rsi = 4, regs.r.rdi = 5, regs.r.rbp = 6;
  ExitHandler handler(0, regs, services);
  fr.pio(kHypercallPort, KVM_EXIT_IO_OUT, 4, 29);
  services.next = {-22, VcpuAction::resume};
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  REQUIRE(services.calls.size() == 1);
  CHECK_FALSE(services.calls[0].long_mode);
  CHECK(services.calls[0].args == std::array<std::uint64_t, 6>{1, 2, 3, 4, 5, 6});
  CHECK(regs.r.rax == 0xffffffeau);
}

TEST_CASE("hypercalls from guest user mode get EPERM without reaching the dispatcher", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  regs.long_mode(3);
  ExitHandler handler(0, regs, services);
  fr.pio(kHypercallPort, KVM_EXIT_IO_OUT, 4, 2);
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK(services.calls.empty());
  CHECK(static_cast<std::int64_t>(regs.r.rax) == -1);

  fr.run().exit_reason = KVM_EXIT_XEN;
  fr.run().xen.type = KVM_EXIT_XEN_HCALL;
  fr.run().xen.u.hcall.cpl = 3;
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK(services.calls.empty());
  CHECK(static_cast<std::int64_t>(fr.run().xen.u.hcall.result) == -1);
}

TEST_CASE("KVM_EXIT_XEN hypercalls carry their result back in the exit", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  regs.long_mode(0);
  ExitHandler handler(1, regs, services);
  auto& x = fr.xen_hypercall(29, 2, 0x1000);
  services.next = {0, VcpuAction::stop};
  CHECK(handler.handle(x) == ExitAction::stop);
  REQUIRE(services.calls.size() == 1);
  CHECK(services.calls[0].nr == 29);
  CHECK(services.calls[0].args[1] == 0x1000);
  CHECK(x.xen.u.hcall.result == 0);

  services.next = {0, VcpuAction::block};
  CHECK(handler.handle(x) == ExitAction::halt);
}

TEST_CASE("debug port, absent ports and MMIO behave like empty hardware", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  ExitHandler handler(0, regs, services);
  fr.pio(kDebugConsolePort, KVM_EXIT_IO_OUT, 1, 'k');
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK(services.console == "k");

  fr.pio(0x3f8, KVM_EXIT_IO_IN, 1, 0);
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK((fr.pio_data() & 0xff) == 0xff);

  fr.pio(kHypercallPort, KVM_EXIT_IO_OUT, 1, 3);  // wrong width: not a stub, ignored
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK(services.calls.empty());

  auto& r = fr.run();
  r.exit_reason = KVM_EXIT_MMIO;
  r.mmio.is_write = 0;
  r.mmio.len = 4;
  CHECK(handler.handle(r) == ExitAction::resume);
  CHECK(r.mmio.data[0] == 0xff);
}

TEST_CASE("hypercall MSR writes install the page or fault", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  ExitHandler handler(0, regs, services);
  auto& r = fr.run();
  r.exit_reason = KVM_EXIT_X86_WRMSR;
  r.msr.index = kHypercallMsr;
  r.msr.data = 0x5000;
  CHECK(handler.handle(r) == ExitAction::resume);
  CHECK(r.msr.error == 0);
  r.msr.data = 0x5001;
  CHECK(handler.handle(r) == ExitAction::resume);
  CHECK(r.msr.error == 1);
  r.msr.index = 0x10;
  r.msr.data = 0x5000;
  CHECK(handler.handle(r) == ExitAction::resume);
  CHECK(r.msr.error == 1);
  CHECK(services.msr_writes.size() == 2);
}

TEST_CASE("fatal exits crash the guest instead of spinning", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  ExitHandler handler(2, regs, services);
  fr.run().exit_reason = KVM_EXIT_SHUTDOWN;
  CHECK(handler.handle(fr.run()) == ExitAction::stop);
  CHECK_THAT(services.crashed, Catch::Contains("triple fault"));
  CHECK_THAT(services.crashed, !Catch::Contains("INIT state"));
  regs.r.rip = 0xfff0;  // what AMD's KVM leaves after a shutdown: the vCPU reset
  regs.s.cs.selector = 0xf000;
  regs.s.cs.base = 0xffff0000;
  CHECK(handler.handle(fr.run()) == ExitAction::stop);
  CHECK_THAT(services.crashed, Catch::Contains("triple fault") && Catch::Contains("INIT state"));
  fr.run().exit_reason = 0xdead;
  CHECK(handler.handle(fr.run()) == ExitAction::stop);
  CHECK_THAT(services.crashed, Catch::Contains("unhandled"));
  fr.run().exit_reason = KVM_EXIT_HLT;
  regs.r.rflags = 0x202;  // IF set: an interrupt can wake it
  CHECK(handler.handle(fr.run()) == ExitAction::halt);
  regs.r.rflags = 0x2;
  CHECK(handler.handle(fr.run()) == ExitAction::stop);
  CHECK_THAT(services.crashed, Catch::Contains("interrupts disabled"));
}

TEST_CASE("ACPI S5 through the sleep control port powers off; staged types and other states do not", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  ExitHandler handler(0, regs, services);
  const std::uint8_t s5_staged = boot_acpi_sleep_value(5, false);
  fr.pio(0x404, KVM_EXIT_IO_OUT, 1, s5_staged);
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  fr.pio(0x404, KVM_EXIT_IO_OUT, 1, boot_acpi_sleep_value(3, true));
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK(services.power.empty());
  fr.pio(0x404, KVM_EXIT_IO_OUT, 1, boot_acpi_sleep_value(5, true));
  CHECK(handler.handle(fr.run()) == ExitAction::stop);
  CHECK(services.power == std::vector<ShutdownReason>{ShutdownReason::poweroff});
}

TEST_CASE("the ACPI reset register reboots only on its reset value", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  ExitHandler handler(0, regs, services);
  fr.pio(0x406, KVM_EXIT_IO_OUT, 1, 0x02);
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  fr.pio(0x406, KVM_EXIT_IO_OUT, 2, 0x01);  // wrong width: not the FADT's byte register
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK(services.power.empty());
  fr.pio(0x406, KVM_EXIT_IO_OUT, 1, 0x01);
  CHECK(handler.handle(fr.run()) == ExitAction::stop);
  CHECK(services.power == std::vector<ShutdownReason>{ShutdownReason::reboot});
}

TEST_CASE("the sleep status register reads 0 (no wake event); absent ports read all-ones", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  ExitHandler handler(0, regs, services);
  fr.pio(0x405, KVM_EXIT_IO_IN, 1, 0xaa);
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK((fr.pio_data() & 0xff) == 0);
  fr.pio(0x407, KVM_EXIT_IO_IN, 1, 0xaa);
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK((fr.pio_data() & 0xff) == 0xff);
}

TEST_CASE("the exit handler counts exits, hypercalls and ports for the vCPU's summary", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  regs.long_mode(0);
  ExitHandler handler(0, regs, services);
  auto& x = fr.xen_hypercall(32, 4);  // event_channel_op / send
  handler.handle(x);
  handler.handle(x);
  fr.pio(0x80, KVM_EXIT_IO_OUT, 1, 0);
  handler.handle(fr.run());
  CHECK(handler.stats().exits() == 3);
  CHECK(handler.stats().hypercalls(32) == 2);
  const auto line = handler.stats().summary();
  CHECK(line.find("xen 2") != std::string::npos);
  CHECK(line.find("event_channel_op/4 2") != std::string::npos);
  CHECK(line.find("0x80 1") != std::string::npos);
}

TEST_CASE("a continuation puts the call back: RIP at the VMCALL, number in RAX, new arguments", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  regs.long_mode(0);
  regs.r.rip = 0xffffffff81001000;
  regs.r.rax = __HYPERVISOR_grant_table_op;
  regs.r.rdi = GNTTABOP_copy, regs.r.rsi = 0x5000, regs.r.rdx = 1000, regs.r.rbx = 0x77;
  ExitHandler handler(0, regs, services);
  auto& x = fr.xen_hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_copy, 0x5000);
  services.next = continue_with({GNTTABOP_copy, 0x5000 + 256 * 40, 744, 0, 0, 0});
  regs.completion_result = 0xdead;

  CHECK(handler.handle(x) == ExitAction::resume);
  CHECK(regs.completions == 1);
  CHECK(regs.set_calls_at_completion == 0);  // KVM completes first, then the registers are rewritten
  CHECK(regs.set_calls == 1);
  CHECK(regs.r.rip == 0xffffffff81001000);
  CHECK(regs.r.rax == __HYPERVISOR_grant_table_op);
  CHECK(regs.r.rdi == GNTTABOP_copy);
  CHECK(regs.r.rsi == 0x5000 + 256 * 40);
  CHECK(regs.r.rdx == 744);
  CHECK(regs.r.rbx == 0x77);  // not an argument register in 64-bit mode
  CHECK(handler.stats().continuations() == 1);
}

TEST_CASE("a continuation through the hypercall page re-issues the stub's OUT with 32-bit arguments", "[kvm][exit]") {
  // KVM reports a PIO exit at the OUT and steps over it on completion; PVM reports it past the OUT.
  for (const auto& [exit_rip, step] : {std::pair<std::uint64_t, std::uint64_t>{0x2005, 2}, {0x2007, 0}}) {
    FakeRun fr;
    FakeRegisters regs;
    FakeServices services;
    regs.s.cr0 = 1;
    regs.r.rip = exit_rip;
    regs.completion_step = step;
    regs.r.rax = __HYPERVISOR_multicall;
    regs.r.rbx = 0x9000, regs.r.rcx = 600;
    ExitHandler handler(0, regs, services);
    fr.pio(kHypercallPort, KVM_EXIT_IO_OUT, 4, __HYPERVISOR_multicall);
    services.next = continue_with({0x1'0000'9000 + 256 * 32, 344, 0, 0, 0, 0});

    CHECK(handler.handle(fr.run()) == ExitAction::resume);
    CHECK(regs.completions == 1);
    CHECK(regs.r.rip == 0x2005);  // the stub's OUT
    CHECK(regs.r.rax == __HYPERVISOR_multicall);
    CHECK(regs.r.rbx == 0x9000 + 256 * 32);  // cut to 32 bits for a 32-bit caller
    CHECK(regs.r.rcx == 344);
  }
}

TEST_CASE("results that are not continuations never complete the exit early", "[kvm][exit]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  regs.long_mode(0);
  ExitHandler handler(0, regs, services);
  services.next = {0, VcpuAction::resume};
  CHECK(handler.handle(fr.xen_hypercall(17, 0)) == ExitAction::resume);
  fr.pio(kHypercallPort, KVM_EXIT_IO_OUT, 4, 17);
  CHECK(handler.handle(fr.run()) == ExitAction::resume);
  CHECK(regs.completions == 0);
  CHECK(handler.stats().continuations() == 0);
}

TEST_CASE("KVM_EXIT_DEBUG goes to the debugger, and is a crash without one", "[kvm][exit][gdb]") {
  FakeRun fr;
  FakeRegisters regs;
  FakeServices services;
  ExitHandler handler(0, regs, services);
  fr.run().exit_reason = KVM_EXIT_DEBUG;
  fr.run().debug.arch.exception = 3;
  fr.run().debug.arch.pc = 0x100123;
  services.debug_action = ExitAction::park;
  CHECK(handler.handle(fr.run()) == ExitAction::park);
  CHECK(services.crashed.empty());
  services.debug_action.reset();
  CHECK(handler.handle(fr.run()) == ExitAction::stop);
  CHECK(services.crashed.find("no debugger") != std::string::npos);
  CHECK(services.debug_pcs == std::vector<std::uint64_t>{0x100123, 0x100123});
}
