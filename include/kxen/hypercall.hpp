// The contract between a vCPU's exit loop (either transport) and the hypercall dispatcher.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

namespace kxen {

// Port the hypercall-page stubs trap on: `mov $nr,%eax; out %eax,$kHypercallPort; ret`.
inline constexpr std::uint16_t kHypercallPort = 0x5a;
// Bochs/QEMU-style debug console port used by earlyprintk=xen fallback and tiny guests.
inline constexpr std::uint16_t kDebugConsolePort = 0xe9;
// Xen's hypercall-page MSR as advertised in CPUID leaf base+2 EBX.
inline constexpr std::uint32_t kHypercallMsr = 0x40000000;

// One hypercall as decoded at the edge: number and six raw argument registers.
// 64-bit: RDI RSI RDX R10 R8 R9. 32-bit: EBX ECX EDX ESI EDI EBP.
struct HypercallRequest {
  std::uint32_t vcpu = 0;
  bool long_mode = true;
  std::uint64_t nr = 0;
  std::array<std::uint64_t, 6> args{};
};

// What the vCPU loop does after writing the result into RAX. `restart` is Xen's hypercall
// continuation: RAX keeps the number, the argument registers get `restart_args`, and the vCPU
// goes back through KVM_RUN (seeing stop, kicks and posted work) to issue the call again.
enum class VcpuAction { resume, block, stop, restart };

struct HypercallOutcome {
  std::int64_t result = 0;
  VcpuAction action = VcpuAction::resume;
  std::array<std::uint64_t, 6> restart_args{};  // only with VcpuAction::restart
};

// Most work one hypercall invocation does before it continues itself (operations, entries,
// pages): bounds the time a vCPU thread spends away from KVM_RUN on the guest's behalf.
inline constexpr std::uint32_t kHypercallWorkBudget = 256;

// The continuation of `request` with new arguments (e.g. the list pointer advanced and the
// count reduced by what was done).
inline HypercallOutcome continue_with(std::array<std::uint64_t, 6> args) {
  return HypercallOutcome{0, VcpuAction::restart, args};
}

// Guest-virtual memory as seen by the calling vCPU (hypercall pointer arguments are virtual).
class GuestVirtual {
 public:
  virtual ~GuestVirtual() = default;
  virtual bool read(std::uint64_t gva, std::span<std::byte> out) = 0;
  virtual bool write(std::uint64_t gva, std::span<const std::byte> in) = 0;
  // Guest-physical address behind gva (for areas Xen keeps by address, like runstate); nullopt if unmapped.
  virtual std::optional<std::uint64_t> translate(std::uint64_t /*gva*/, bool /*for_write*/) { return std::nullopt; }

  template <class T>
  std::optional<T> read_obj(std::uint64_t gva) {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    if (!read(gva, std::as_writable_bytes(std::span<T, 1>(&value, 1)))) return std::nullopt;
    return value;
  }
  template <class T>
  bool write_obj(std::uint64_t gva, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gva, std::as_bytes(std::span<const T, 1>(&value, 1)));
  }
};

// Matches Xen's SHUTDOWN_* codes (xen/sched.h).
enum class ShutdownReason : std::uint32_t { poweroff = 0, reboot = 1, suspend = 2, crash = 3, watchdog = 4, soft_reset = 5 };

// Services the VM offers to hypercall handlers; implemented by Vm, faked in unit tests.
class HypercallHost {
 public:
  virtual ~HypercallHost() = default;
  virtual void console_output(std::string_view bytes) = 0;             // console_io write, port 0xE9
  virtual std::size_t console_input(std::span<char> out) = 0;          // console_io read: queued input
  virtual void shutdown(ShutdownReason reason) = 0;                    // stops every vCPU
  // A thread serving the guest cannot go on (e.g. out of memory): the VM stops as crashed, and
  // `why` is the reason kxen reports.
  virtual void failed(std::string_view /*why*/) { shutdown(ShutdownReason::crash); }
};

}  // namespace kxen
