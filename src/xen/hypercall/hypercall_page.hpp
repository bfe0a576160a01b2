// The PIO hypercall transport's edge: the page of trapping stubs and the register decoders.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <array>
#include <cstdint>
#include <span>

#include "kxen/hypercall.hpp"

namespace kxen {

inline constexpr std::size_t kHypercallStubSize = 32;
inline constexpr std::size_t kHypercallStubCount = 128;

// 128 stubs of 32 bytes, stub i = `mov $i,%eax; out %eax,$kHypercallPort; ret`, padded with
// int3. The same bytes decode identically in 32- and 64-bit mode.
void fill_hypercall_page(std::span<std::byte, 4096> page);

// A stub's `out` exit: number in EAX; args RDI RSI RDX R10 R8 R9 (64-bit) or
// EBX ECX EDX ESI EDI EBP (32-bit, cut to 32 bits).
HypercallRequest decode_pio_hypercall(const kvm_regs& regs, bool long_mode, std::uint32_t vcpu);

// The inverse of the decoders: puts a continuation's arguments into the registers the guest's
// hypercall ABI reads them from (32-bit callers: cut to 32 bits).
void set_hypercall_args(kvm_regs& regs, bool long_mode, const std::array<std::uint64_t, 6>& args);

// KVM_EXIT_XEN (type KVM_EXIT_XEN_HCALL): KVM already picked the registers for the mode.
HypercallRequest decode_xen_exit(const kvm_xen_exit& exit, std::uint32_t vcpu);

}  // namespace kxen
