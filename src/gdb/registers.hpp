// The register file gdb sees: always i386:x86-64's 64-bit layout (from the 32-bit PVH entry on,
// since gdb cannot follow a register set that changes size), mapped to and from KVM's state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "vmm/guest_inspector.hpp"

namespace kxen::gdb {

struct RegisterInfo {
  std::string_view name;
  std::uint32_t size;     // bytes on the wire (little-endian)
  std::string_view type;  // target-description type
  std::string_view feature;
};

// Numbered in wire order: rax..r15 (0-15), rip, eflags, cs ss ds es fs gs, st0-7, fctrl..fop,
// xmm0-15, mxcsr, fs_base, gs_base, cr0, cr2, cr3, cr4, cr8, efer.
std::span<const RegisterInfo> register_table();
inline constexpr std::uint32_t kRipRegister = 16;
// Total bytes of a 'g' reply.
std::size_t register_file_size();

// One register's bytes from the state; nullopt for an unknown number.
std::optional<std::vector<std::byte>> read_register(const VcpuState& state, std::uint32_t reg);
// Stores bytes (exactly the register's size) into the state; false for a bad number or size.
bool write_register(VcpuState& state, std::uint32_t reg, std::span<const std::byte> bytes);
std::vector<std::byte> read_all_registers(const VcpuState& state);
// A 'G' payload of any length up to the file's: registers it covers whole are written.
bool write_all_registers(VcpuState& state, std::span<const std::byte> bytes);

}  // namespace kxen::gdb
