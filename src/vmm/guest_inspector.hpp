// A debugger's view of a paused guest: a vCPU's registers (general, system, x87/SSE) and guest
// memory, guest-virtual through that vCPU's page tables or guest-physical.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kvm/vcpu.hpp"
#include "kxen/guest_memory.hpp"

namespace kxen {

struct VcpuState {
  kvm_regs regs{};
  kvm_sregs sregs{};
  std::optional<kvm_fpu> fpu;  // absent where KVM does not give it
};

// Every call reaches the vCPU's fd through Vcpu::call_outside_run, so it is safe on a running
// vCPU too (it is kicked out of KVM_RUN once); values are meant to be read while it is parked.
class GuestInspector final {
 public:
  GuestInspector(std::vector<std::unique_ptr<Vcpu>>& vcpus, GuestMemory& memory) : vcpus_(vcpus), memory_(memory) {}

  std::expected<VcpuState, std::string> state(std::uint32_t vcpu);
  std::expected<void, std::string> set_state(std::uint32_t vcpu, const VcpuState& state);
  std::expected<std::uint32_t, std::string> mp_state(std::uint32_t vcpu);

  // Guest-virtual through the vCPU's page tables (flat below 4 GiB while paging is off). Reads
  // stop at the first unmapped byte and return how many bytes were read. Writes ignore page
  // write-protection (a debugger patches read-only kernel text) and are all or nothing.
  std::size_t read_virtual(std::uint32_t vcpu, std::uint64_t gva, std::span<std::byte> out);
  bool write_virtual(std::uint32_t vcpu, std::uint64_t gva, std::span<const std::byte> in);
  std::optional<Gpa> translate(std::uint32_t vcpu, std::uint64_t gva);
  std::size_t read_physical(Gpa gpa, std::span<std::byte> out);
  bool write_physical(Gpa gpa, std::span<const std::byte> in);

 private:
  template <class Fn>
  std::expected<void, std::string> on_fd(std::uint32_t vcpu, Fn&& fn);

  std::vector<std::unique_ptr<Vcpu>>& vcpus_;
  GuestMemory& memory_;
};

}  // namespace kxen
