#include "kvm/pvh_entry.hpp"

#include <cstring>

namespace kxen {

namespace {
constexpr std::uint32_t kCr0ProtectedMode = 1u << 0;
constexpr std::uint64_t kRflagsReserved = 1u << 1;

kvm_segment flat_segment(std::uint16_t selector, std::uint8_t type) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = 1;  // 32-bit
  s.s = 1;   // code/data
  s.l = 0;
  s.g = 1;   // 4 KiB granularity
  return s;
}
}  // namespace

void set_pvh_entry_state(kvm_sregs& sregs, kvm_regs& regs, std::uint32_t entry, std::uint32_t start_info) {
  sregs.cs = flat_segment(0x10, 0xb);  // execute/read, accessed
  const kvm_segment data = flat_segment(0x18, 0x3);  // read/write, accessed
  sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = data;
  sregs.tr = kvm_segment{};
  sregs.tr.selector = 0x20;
  sregs.tr.limit = 0x67;
  sregs.tr.type = 0xb;  // 32-bit busy TSS, as the ABI requires
  sregs.tr.present = 1;
  sregs.ldt = kvm_segment{};
  sregs.ldt.type = 0x2;
  sregs.ldt.unusable = 1;
  sregs.cr0 = kCr0ProtectedMode;
  sregs.cr2 = sregs.cr3 = sregs.cr4 = 0;
  sregs.efer = 0;
  std::memset(&regs, 0, sizeof(regs));
  regs.rip = entry;
  regs.rbx = start_info;
  regs.rflags = kRflagsReserved;  // IF, TF, VM clear
}

}  // namespace kxen
