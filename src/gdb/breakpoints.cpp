#include "gdb/breakpoints.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kxen::gdb {

namespace {
constexpr std::byte kInt3{0xcc};
constexpr std::uint32_t kBpVector = 3;
constexpr std::uint32_t kDbVector = 1;

// DR7's R/W field: 0 execute, 1 write, 3 read/write (x86 has no read-only watch).
std::uint64_t rw_bits(BreakType type) {
  switch (type) {
    case BreakType::write: return 1;
    case BreakType::read:
    case BreakType::access: return 3;
    default: return 0;
  }
}
// DR7's LEN field for 1, 2, 4, 8 bytes.
std::uint64_t len_bits(std::uint64_t len) { return len == 1 ? 0 : len == 2 ? 1 : len == 8 ? 2 : 3; }
}  // namespace

std::optional<int> Breakpoints::free_slot_locked() {
  for (std::size_t n = 0; n < slots_.size(); ++n)
    if (!slots_[n].used) return static_cast<int>(n);
  // A software breakpoint gives its slot up and becomes an int3 (only while stopped: none planted).
  for (std::size_t n = 0; n < slots_.size(); ++n) {
    if (slots_[n].type != BreakType::software) continue;
    software_[slots_[n].addr].slot.reset();
    slots_[n] = Slot{};
    return static_cast<int>(n);
  }
  return std::nullopt;
}

bool Breakpoints::insert(BreakType type, std::uint64_t addr, std::uint64_t len) {
  std::lock_guard lock(mutex_);
  if (type == BreakType::software) {
    auto [it, fresh] = software_.try_emplace(addr);
    if (!fresh) return true;
    for (std::size_t n = 0; n < slots_.size(); ++n) {
      if (slots_[n].used) continue;
      slots_[n] = Slot{true, BreakType::software, addr, 1};
      it->second.slot = static_cast<int>(n);
      break;
    }
    return true;
  }
  if (type == BreakType::hardware) len = 1;  // gdb sends the instruction "kind"; DR7 wants 1
  const bool sized = len == 1 || len == 2 || len == 4 || len == 8;
  if (!sized || (addr & (len - 1)) != 0) return false;  // the CPU needs natural alignment
  const auto n = free_slot_locked();
  if (!n) return false;
  slots_[static_cast<std::size_t>(*n)] = Slot{true, type, addr, len};
  return true;
}

bool Breakpoints::remove(BreakType type, std::uint64_t addr, std::uint64_t len) {
  std::lock_guard lock(mutex_);
  if (type == BreakType::software) {
    auto it = software_.find(addr);
    if (it == software_.end()) return false;
    if (it->second.slot) slots_[static_cast<std::size_t>(*it->second.slot)] = Slot{};
    software_.erase(it);
    return true;
  }
  if (type == BreakType::hardware) len = 1;
  for (auto& slot : slots_) {
    if (slot.used && slot.type == type && slot.addr == addr && slot.len == len) {
      slot = Slot{};
      return true;
    }
  }
  return false;
}

void Breakpoints::clear() {
  std::lock_guard lock(mutex_);
  software_.clear();
  slots_ = {};
}

void Breakpoints::plant(Target& target, std::uint32_t vcpu) {
  std::lock_guard lock(mutex_);
  for (auto& [addr, bp] : software_) {
    if (bp.gpa || bp.slot) continue;
    // Not mapped yet (a kernel not loaded or paged in): tried again at the next resume.
    const auto gpa = target.translate(vcpu, addr);
    if (!gpa) continue;
    std::byte original{};
    if (target.read_memory(vcpu, *gpa, std::span(&original, 1), true) != 1) continue;
    if (!target.write_memory(vcpu, *gpa, std::span(&kInt3, 1), true)) continue;
    bp.gpa = gpa;
    bp.original = original;
  }
}

void Breakpoints::lift(Target& target) {
  std::lock_guard lock(mutex_);
  for (auto& [addr, bp] : software_) {
    if (!bp.gpa) continue;
    if (!target.write_memory(0, *bp.gpa, std::span(&bp.original, 1), true))
      spdlog::warn("gdb: cannot restore the byte under the breakpoint at {:#x}", addr);
    bp.gpa.reset();
  }
}

void Breakpoints::forget_planted() {
  std::lock_guard lock(mutex_);
  for (auto& [addr, bp] : software_) bp.gpa.reset();
}

std::size_t Breakpoints::count() const {
  std::lock_guard lock(mutex_);
  std::size_t watch_or_hw = 0;
  for (const auto& slot : slots_) watch_or_hw += slot.used && slot.type != BreakType::software;
  return software_.size() + watch_or_hw;
}

kvm_guest_debug Breakpoints::guest_debug() const {
  std::lock_guard lock(mutex_);
  kvm_guest_debug debug{};
  for (const auto& [addr, bp] : software_)
    if (!bp.slot) debug.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
  std::uint64_t dr7 = 0;
  for (std::size_t n = 0; n < slots_.size(); ++n) {
    const Slot& slot = slots_[n];
    if (!slot.used) continue;
    debug.arch.debugreg[n] = slot.addr;
    dr7 |= (2ull << (n * 2)) | (rw_bits(slot.type) << (16 + n * 4)) | (len_bits(slot.len) << (18 + n * 4));
  }
  if (dr7 != 0) {
    debug.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    debug.arch.debugreg[7] = dr7 | 0x600;  // GE, LE and the reserved bit 10, as the SDM advises
  }
  return debug;
}

std::optional<int> Breakpoints::slot_hit(std::uint64_t dr6) const {
  for (std::size_t n = 0; n < slots_.size(); ++n)
    if (slots_[n].used && (dr6 & (1ull << n))) return static_cast<int>(n);
  return std::nullopt;
}

bool Breakpoints::claims(const DebugExit& exit) const {
  std::lock_guard lock(mutex_);
  if (exit.arch.exception == kBpVector) {
    auto it = software_.find(exit.arch.pc);
    return it != software_.end() && !it->second.slot;
  }
  if (exit.arch.exception == kDbVector) return slot_hit(exit.arch.dr6).has_value();
  return false;
}

std::string Breakpoints::reason(const DebugExit& exit) const {
  std::lock_guard lock(mutex_);
  if (exit.arch.exception == kBpVector) return "swbreak:;";
  const auto n = slot_hit(exit.arch.dr6);
  if (exit.arch.exception != kDbVector || !n) return "";
  const Slot& slot = slots_[*n];
  switch (slot.type) {
    case BreakType::write: return fmt::format("watch:{:x};", slot.addr);
    case BreakType::read: return fmt::format("rwatch:{:x};", slot.addr);
    case BreakType::access: return fmt::format("awatch:{:x};", slot.addr);
    case BreakType::software: return "swbreak:;";
    default: return "hwbreak:;";
  }
}

}  // namespace kxen::gdb
