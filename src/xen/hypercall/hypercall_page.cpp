#include "xen/hypercall/hypercall_page.hpp"

#include <algorithm>

namespace kxen {

namespace {
constexpr std::byte kMovEaxImm32{0xb8};
constexpr std::byte kOutImm8Eax{0xe7};
constexpr std::byte kRet{0xc3};
constexpr std::byte kInt3{0xcc};
static_assert(kHypercallStubSize * kHypercallStubCount == 4096);

constexpr std::uint64_t low32(std::uint64_t v) { return v & 0xffffffffu; }
}  // namespace

void fill_hypercall_page(std::span<std::byte, 4096> page) {
  std::fill(page.begin(), page.end(), kInt3);
  for (std::size_t i = 0; i < kHypercallStubCount; ++i) {
    std::byte* stub = page.data() + i * kHypercallStubSize;
    stub[0] = kMovEaxImm32;
    for (int b = 0; b < 4; ++b) stub[1 + b] = static_cast<std::byte>((i >> (8 * b)) & 0xff);
    stub[5] = kOutImm8Eax;
    stub[6] = static_cast<std::byte>(kHypercallPort);
    stub[7] = kRet;
  }
}

HypercallRequest decode_pio_hypercall(const kvm_regs& regs, bool long_mode, std::uint32_t vcpu) {
  HypercallRequest req;
  req.vcpu = vcpu;
  req.long_mode = long_mode;
  req.nr = low32(regs.rax);  // the stub loads EAX, which is also what the `out` carried
  if (long_mode) {
    req.args = {regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9};
  } else {
    req.args = {low32(regs.rbx), low32(regs.rcx), low32(regs.rdx),
                low32(regs.rsi), low32(regs.rdi), low32(regs.rbp)};
  }
  return req;
}

void set_hypercall_args(kvm_regs& regs, bool long_mode, const std::array<std::uint64_t, 6>& args) {
  if (long_mode) {
    regs.rdi = args[0], regs.rsi = args[1], regs.rdx = args[2];
    regs.r10 = args[3], regs.r8 = args[4], regs.r9 = args[5];
    return;
  }
  regs.rbx = low32(args[0]), regs.rcx = low32(args[1]), regs.rdx = low32(args[2]);
  regs.rsi = low32(args[3]), regs.rdi = low32(args[4]), regs.rbp = low32(args[5]);
}

HypercallRequest decode_xen_exit(const kvm_xen_exit& exit, std::uint32_t vcpu) {
  HypercallRequest req;
  req.vcpu = vcpu;
  req.long_mode = exit.u.hcall.longmode != 0;
  req.nr = req.long_mode ? exit.u.hcall.input : low32(exit.u.hcall.input);
  for (std::size_t i = 0; i < req.args.size(); ++i)
    req.args[i] = req.long_mode ? exit.u.hcall.params[i] : low32(exit.u.hcall.params[i]);
  return req;
}

}  // namespace kxen
