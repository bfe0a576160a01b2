// Breakpoints and watchpoints of one gdb session over the four x86 debug-register slots and int3.
// A software breakpoint (Z0) takes a free debug-register slot first: exact, no guest memory
// written, and it works where KVM cannot run an intercepted int3 (this project's PVM reports an
// internal error); with no slot free, or when a hardware breakpoint or watchpoint needs the slot,
// it becomes an int3 planted in guest memory while the guest runs (lifted whenever it stops, so
// memory reads and detach see the guest's own bytes).
// Lock order: Breakpoints::mutex_ is a leaf; claims() runs on vCPU threads.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "gdb/target.hpp"

namespace kxen::gdb {

// Z/z types: 0 software, 1 hardware, 2 write, 3 read, 4 access watchpoint.
enum class BreakType { software = 0, hardware = 1, write = 2, read = 3, access = 4 };

class Breakpoints final {
 public:
  // Z: false when it cannot be set (no free slot, bad length/alignment, unknown type).
  bool insert(BreakType type, std::uint64_t addr, std::uint64_t len);
  bool remove(BreakType type, std::uint64_t addr, std::uint64_t len);
  void clear();

  // Writes int3 over every software breakpoint (through vCPU `vcpu`'s page tables) / restores them.
  void plant(Target& target, std::uint32_t vcpu);
  void lift(Target& target);
  // The guest rebooted into fresh memory: no int3 is planted any more, nothing to restore.
  void forget_planted();
  std::size_t count() const;
  // KVM_SET_GUEST_DEBUG's control and debug registers for what is set (no single-step).
  kvm_guest_debug guest_debug() const;

  // A debug exit that one of ours explains; safe on any thread.
  bool claims(const DebugExit& exit) const;
  // The stop-reply reason: "swbreak:;", "hwbreak:;", "watch:ADDR;" (or rwatch/awatch), or "".
  std::string reason(const DebugExit& exit) const;

 private:
  struct Software {
    std::optional<int> slot;           // in a debug register, or else an int3
    std::optional<std::uint64_t> gpa;  // where the int3 is while planted
    std::byte original{};
  };
  struct Slot {
    bool used = false;
    BreakType type = BreakType::hardware;
    std::uint64_t addr = 0;
    std::uint64_t len = 1;
  };
  std::optional<int> slot_hit(std::uint64_t dr6) const;
  std::optional<int> free_slot_locked();

  mutable std::mutex mutex_;
  std::map<std::uint64_t, Software> software_;
  std::array<Slot, 4> slots_{};
};

}  // namespace kxen::gdb
