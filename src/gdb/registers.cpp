#include "gdb/registers.hpp"

#include <array>
#include <cstring>

namespace kxen::gdb {

namespace {
constexpr std::string_view kCore = "org.gnu.gdb.i386.core";
constexpr std::string_view kSse = "org.gnu.gdb.i386.sse";
constexpr std::string_view kSeg = "org.gnu.gdb.i386.segments";
constexpr std::string_view kSys = "org.kxen.gdb.x86.sys";

constexpr std::array<RegisterInfo, 65> kRegisters = {{
    {"rax", 8, "int64", kCore}, {"rbx", 8, "int64", kCore}, {"rcx", 8, "int64", kCore},
    {"rdx", 8, "int64", kCore}, {"rsi", 8, "int64", kCore}, {"rdi", 8, "int64", kCore},
    {"rbp", 8, "data_ptr", kCore}, {"rsp", 8, "data_ptr", kCore}, {"r8", 8, "int64", kCore},
    {"r9", 8, "int64", kCore}, {"r10", 8, "int64", kCore}, {"r11", 8, "int64", kCore},
    {"r12", 8, "int64", kCore}, {"r13", 8, "int64", kCore}, {"r14", 8, "int64", kCore},
    {"r15", 8, "int64", kCore}, {"rip", 8, "code_ptr", kCore}, {"eflags", 4, "i386_eflags", kCore},
    {"cs", 4, "int32", kCore}, {"ss", 4, "int32", kCore}, {"ds", 4, "int32", kCore},
    {"es", 4, "int32", kCore}, {"fs", 4, "int32", kCore}, {"gs", 4, "int32", kCore},
    {"st0", 10, "i387_ext", kCore}, {"st1", 10, "i387_ext", kCore}, {"st2", 10, "i387_ext", kCore},
    {"st3", 10, "i387_ext", kCore}, {"st4", 10, "i387_ext", kCore}, {"st5", 10, "i387_ext", kCore},
    {"st6", 10, "i387_ext", kCore}, {"st7", 10, "i387_ext", kCore}, {"fctrl", 4, "int", kCore},
    {"fstat", 4, "int", kCore}, {"ftag", 4, "int", kCore}, {"fiseg", 4, "int", kCore},
    {"fioff", 4, "int", kCore}, {"foseg", 4, "int", kCore}, {"fooff", 4, "int", kCore},
    {"fop", 4, "int", kCore}, {"xmm0", 16, "vec128", kSse}, {"xmm1", 16, "vec128", kSse},
    {"xmm2", 16, "vec128", kSse}, {"xmm3", 16, "vec128", kSse}, {"xmm4", 16, "vec128", kSse},
    {"xmm5", 16, "vec128", kSse}, {"xmm6", 16, "vec128", kSse}, {"xmm7", 16, "vec128", kSse},
    {"xmm8", 16, "vec128", kSse}, {"xmm9", 16, "vec128", kSse}, {"xmm10", 16, "vec128", kSse},
    {"xmm11", 16, "vec128", kSse}, {"xmm12", 16, "vec128", kSse}, {"xmm13", 16, "vec128", kSse},
    {"xmm14", 16, "vec128", kSse}, {"xmm15", 16, "vec128", kSse}, {"mxcsr", 4, "i386_mxcsr", kSse},
    {"fs_base", 8, "int64", kSeg}, {"gs_base", 8, "int64", kSeg}, {"cr0", 8, "int64", kSys},
    {"cr2", 8, "int64", kSys}, {"cr3", 8, "int64", kSys}, {"cr4", 8, "int64", kSys},
    {"cr8", 8, "int64", kSys}, {"efer", 8, "int64", kSys},
}};

// Pointers to each register's storage in a VcpuState; x87/SSE ones need the FPU state.
__u64* gpr(kvm_regs& r, std::uint32_t n) {
  __u64* table[] = {&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rbp, &r.rsp,
                            &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15, &r.rip};
  return table[n];
}

kvm_segment& segment(kvm_sregs& s, std::uint32_t n) {
  kvm_segment* table[] = {&s.cs, &s.ss, &s.ds, &s.es, &s.fs, &s.gs};
  return *table[n];
}

__u64& system_reg(kvm_sregs& s, std::uint32_t n) {
  __u64* table[] = {&s.fs.base, &s.gs.base, &s.cr0, &s.cr2, &s.cr3, &s.cr4, &s.cr8, &s.efer};
  return *table[n];
}

// KVM gives the abridged (FXSAVE) tag byte; gdb wants the full tag word: empty = 3, else valid.
std::uint32_t full_tag(std::uint8_t abridged) {
  std::uint32_t tag = 0;
  for (unsigned i = 0; i < 8; ++i) tag |= ((abridged >> i) & 1 ? 0u : 3u) << (2 * i);
  return tag;
}
std::uint8_t abridged_tag(std::uint32_t full) {
  std::uint8_t tag = 0;
  for (unsigned i = 0; i < 8; ++i)
    if (((full >> (2 * i)) & 3) != 3) tag = static_cast<std::uint8_t>(tag | (1u << i));
  return tag;
}

// Copies between the wire bytes and a register (to_state: wire -> state). False if unknown.
bool transfer(VcpuState& s, std::uint32_t reg, std::byte* wire, bool to_state) {
  const std::uint32_t size = kRegisters[reg].size;
  auto move = [&](void* field, std::size_t n) {
    if (to_state) std::memcpy(field, wire, n);
    else std::memcpy(wire, field, n);
  };
  std::uint32_t value32 = 0;
  auto move32 = [&](std::uint32_t current, auto store) {
    value32 = current;
    move(&value32, 4);
    if (to_state) store(value32);
  };
  if (reg <= 16) move(gpr(s.regs, reg), 8);
  else if (reg == 17) move32(static_cast<std::uint32_t>(s.regs.rflags), [&](std::uint32_t v) { s.regs.rflags = v; });
  else if (reg <= 23) move32(segment(s.sregs, reg - 18).selector, [&](std::uint32_t v) {
    segment(s.sregs, reg - 18).selector = static_cast<std::uint16_t>(v); });
  else if (reg >= 57) move(&system_reg(s.sregs, reg - 57), 8);
  else if (!s.fpu) { if (!to_state) std::memset(wire, 0, size); }  // no FPU state: reads as zero
  else if (reg <= 31) move(s.fpu->fpr[reg - 24], 10);
  else if (reg == 32) move32(s.fpu->fcw, [&](std::uint32_t v) { s.fpu->fcw = static_cast<std::uint16_t>(v); });
  else if (reg == 33) move32(s.fpu->fsw, [&](std::uint32_t v) { s.fpu->fsw = static_cast<std::uint16_t>(v); });
  else if (reg == 34) move32(full_tag(s.fpu->ftwx), [&](std::uint32_t v) { s.fpu->ftwx = abridged_tag(v); });
  else if (reg == 35 || reg == 37) move32(0, [](std::uint32_t) {});  // segments of the last x87 op: not kept
  else if (reg == 36) move32(static_cast<std::uint32_t>(s.fpu->last_ip), [&](std::uint32_t v) { s.fpu->last_ip = v; });
  else if (reg == 38) move32(static_cast<std::uint32_t>(s.fpu->last_dp), [&](std::uint32_t v) { s.fpu->last_dp = v; });
  else if (reg == 39) move32(s.fpu->last_opcode, [&](std::uint32_t v) { s.fpu->last_opcode = static_cast<std::uint16_t>(v); });
  else if (reg <= 55) move(s.fpu->xmm[reg - 40], 16);
  else if (reg == 56) move(&s.fpu->mxcsr, 4);
  return true;
}
}  // namespace

std::span<const RegisterInfo> register_table() { return kRegisters; }

std::size_t register_file_size() {
  std::size_t total = 0;
  for (const auto& r : kRegisters) total += r.size;
  return total;
}

std::optional<std::vector<std::byte>> read_register(const VcpuState& state, std::uint32_t reg) {
  if (reg >= kRegisters.size()) return std::nullopt;
  std::vector<std::byte> bytes(kRegisters[reg].size);
  VcpuState copy = state;
  transfer(copy, reg, bytes.data(), false);
  return bytes;
}

bool write_register(VcpuState& state, std::uint32_t reg, std::span<const std::byte> bytes) {
  if (reg >= kRegisters.size() || bytes.size() != kRegisters[reg].size) return false;
  std::vector<std::byte> wire(bytes.begin(), bytes.end());
  return transfer(state, reg, wire.data(), true);
}

std::vector<std::byte> read_all_registers(const VcpuState& state) {
  std::vector<std::byte> all;
  all.reserve(register_file_size());
  for (std::uint32_t reg = 0; reg < kRegisters.size(); ++reg) {
    auto bytes = read_register(state, reg);
    all.insert(all.end(), bytes->begin(), bytes->end());
  }
  return all;
}

bool write_all_registers(VcpuState& state, std::span<const std::byte> bytes) {
  if (bytes.size() > register_file_size()) return false;
  std::size_t offset = 0;
  for (std::uint32_t reg = 0; reg < kRegisters.size(); ++reg) {
    const std::uint32_t size = kRegisters[reg].size;
    if (offset + size > bytes.size()) break;
    write_register(state, reg, bytes.subspan(offset, size));
    offset += size;
  }
  return true;
}

}  // namespace kxen::gdb
