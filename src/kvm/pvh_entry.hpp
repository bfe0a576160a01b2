// The initial vCPU state the PVH boot ABI prescribes (docs/misc/pvh.pandoc in Xen).
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace kxen {

// 32-bit protected mode, paging off, flat 4 GiB CS/DS/ES/SS, a 32-bit TSS, EBX = start_info.
void set_pvh_entry_state(kvm_sregs& sregs, kvm_regs& regs, std::uint32_t entry, std::uint32_t start_info);

}  // namespace kxen
