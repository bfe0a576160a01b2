#include <catch2/catch.hpp>

#include <array>

#include "xen/hypercall/hypercall_page.hpp"

using namespace kxen;

TEST_CASE("hypercall page: 128 trapping stubs of 32 bytes", "[hypercall]") {
  std::array<std::byte, 4096> page;
  page.fill(std::byte{0});
  fill_hypercall_page(page);
  auto at = [&](std::size_t i) { return static_cast<unsigned>(page[i]); };
  for (std::size_t nr : {0u, 17u, 29u, 127u}) {
    const std::size_t s = nr * 32;
    INFO("stub " << nr);
    CHECK(at(s) == 0xb8);  // mov $nr, %eax
    CHECK(at(s + 1) == nr);
    CHECK(at(s + 2) == 0);
    CHECK(at(s + 3) == 0);
    CHECK(at(s + 4) == 0);
    CHECK(at(s + 5) == 0xe7);  // out %eax, $imm8
    CHECK(at(s + 6) == kHypercallPort);
    CHECK(at(s + 7) == 0xc3);  // ret
    for (std::size_t b = 8; b < 32; ++b) CHECK(at(s + b) == 0xcc);
  }
}

TEST_CASE("decode_pio_hypercall picks the mode's argument registers", "[hypercall]") {
  kvm_regs regs{};
  regs.rax = 0xffffffff00000022ull;  // high half is not part of the number
  regs.rbx = 0x10; regs.rcx = 0x11; regs.rdx = 0x12; regs.rsi = 0x13; regs.rdi = 0x14; regs.rbp = 0x15;
  regs.r8 = 0x18; regs.r9 = 0x19; regs.r10 = 0x1a;

  auto req = decode_pio_hypercall(regs, true, 2);
  CHECK(req.nr == 0x22);
  CHECK(req.vcpu == 2);
  CHECK(req.long_mode);
  CHECK(req.args == std::array<std::uint64_t, 6>{0x14, 0x13, 0x12, 0x1a, 0x18, 0x19});

  regs.rbx = 0xaaaaaaaa00000010ull;
  req = decode_pio_hypercall(regs, false, 0);
  CHECK_FALSE(req.long_mode);
  CHECK(req.args == std::array<std::uint64_t, 6>{0x10, 0x11, 0x12, 0x13, 0x14, 0x15});
}

TEST_CASE("decode_xen_exit reads KVM's hypercall exit", "[hypercall]") {
  kvm_xen_exit exit{};
  exit.type = KVM_EXIT_XEN_HCALL;
  exit.u.hcall.longmode = 1;
  exit.u.hcall.input = 32;
  for (int i = 0; i < 6; ++i) exit.u.hcall.params[i] = 0x100000000ull * (i + 1) + i;
  auto req = decode_xen_exit(exit, 5);
  CHECK(req.long_mode);
  CHECK(req.vcpu == 5);
  CHECK(req.nr == 32);
  CHECK(req.args[5] == 0x600000005ull);

  exit.u.hcall.longmode = 0;
  exit.u.hcall.input = 0x700000011ull;
  req = decode_xen_exit(exit, 1);
  CHECK_FALSE(req.long_mode);
  CHECK(req.nr == 0x11);
  CHECK(req.args == std::array<std::uint64_t, 6>{0, 1, 2, 3, 4, 5});
}
