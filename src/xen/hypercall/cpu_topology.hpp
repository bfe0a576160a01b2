// The vCPUs' topology in CPUID: one package of single-thread cores sharing one last-level cache.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace kxen {

// Rewrites a host entry of leaf 1, 4, 0x80000008, 0x8000001d or 0x8000001e for vCPU vcpu_id
// of vcpus (APIC ID = vcpu id), so the guest counts its own vCPUs instead of the host's CPUs;
// other entries are left alone.
void describe_topology(kvm_cpuid_entry2& entry, std::uint32_t vcpu_id, std::uint32_t vcpus);

// Leaf 0xb or 0x1f whole: one thread per core, vcpus cores, then the end of the list. The
// host's own subleaves describe its CPUs (a two-CPU host may list no core level at all).
std::vector<kvm_cpuid_entry2> topology_leaf(std::uint32_t function, std::uint32_t vcpu_id, std::uint32_t vcpus);

}  // namespace kxen
