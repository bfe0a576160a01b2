// The guest's CPUID table: the host's supported leaves plus Xen's hypervisor leaves.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

#include "xen/time/time_scale.hpp"

namespace kxen {

struct XenCpuidConfig {
  std::uint32_t tsc_khz = 0;       // guest TSC frequency (time leaf); 0 when unknown
  bool tsc_reliable = false;       // host TSC invariant and synchronised (time leaf bit 1)
  std::uint64_t tsc_offset = 0;    // informational offset in the time leaf (Xen's vtsc_offset)
  bool upcall_vector = false;      // HVMOP_set_evtchn_upcall_vector is served
  bool x2apic_virt = false;        // x2APIC MSR accesses do not exit to user space
  bool lapic = true;               // false: no in-kernel LAPIC, so APIC, x2APIC and TSC-deadline are hidden
  std::uint16_t domid = 1;
  std::uint32_t vcpus = 1;         // the topology leaves describe this many single-thread cores
};

// Xen 4.17's leaves 0x40000000..0x40000005 as an HVM guest sees them, for one vCPU.
std::vector<kvm_cpuid_entry2> xen_cpuid_leaves(std::uint32_t vcpu_id, const XenCpuidConfig& config,
                                               bool host_has_rdtscp);

// Pure: host table (KVM_GET_SUPPORTED_CPUID) → this vCPU's table for KVM_SET_CPUID2. Drops
// every host leaf in 0x40000000-0x4fffffff (no KVM signature next to Xen's), adds the Xen
// leaves, sets leaf 1 ECX.hypervisor and EBX[31:24] = APIC ID = vcpu id, and describes
// config.vcpus single-thread cores in one package (cpu_topology.hpp: leaves 0xb and 0x1f are
// rebuilt when the host has them); without config.lapic it clears the APIC bits (leaf 1
// EDX.APIC, ECX.x2APIC and ECX.TSC-deadline; 0x80000001 EDX.APIC). Other entries are kept as given.
std::vector<kvm_cpuid_entry2> merge_guest_cpuid(std::span<const kvm_cpuid_entry2> host, std::uint32_t vcpu_id,
                                                const XenCpuidConfig& config);

}  // namespace kxen
