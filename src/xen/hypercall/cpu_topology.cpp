#include "xen/hypercall/cpu_topology.hpp"

#include "xen/hypercall/cpuid_entry.hpp"

#include <algorithm>
#include <bit>

namespace kxen {
namespace {

constexpr std::uint32_t kHttBit = 1u << 28;  // CPUID 1 EDX: more than one logical CPU per package

// Bits 25:14 of a cache descriptor (leaf 4 and 0x8000001d EAX): logical CPUs sharing it, minus one.
void set_sharing(std::uint32_t& eax, std::uint32_t sharing) {
  eax = (eax & ~(0xfffu << 14)) | (((sharing - 1) & 0xfffu) << 14);
}

std::uint32_t cache_level(std::uint32_t eax) { return (eax >> 5) & 0x7; }
bool no_cache(std::uint32_t eax) { return (eax & 0x1f) == 0; }

// APIC ID bits that number the vCPUs' cores.
std::uint32_t core_id_bits(std::uint32_t vcpus) { return static_cast<std::uint32_t>(std::bit_width(vcpus - 1)); }

}  // namespace

void describe_topology(kvm_cpuid_entry2& e, std::uint32_t vcpu_id, std::uint32_t vcpus) {
  vcpus = std::max<std::uint32_t>(vcpus, 1);
  const std::uint32_t id_bits = core_id_bits(vcpus);
  const std::uint32_t id_span = 1u << id_bits;
  switch (e.function) {
    case 1:
      e.ebx = (e.ebx & ~(0xffu << 16)) | (std::min<std::uint32_t>(id_span, 0xff) << 16);
      if (vcpus > 1) e.edx |= kHttBit;  // the count above is meaningful (it is harmless with one)
      break;
    case 4:  // Intel's caches: L1 and L2 per core, the last level shared by every vCPU
      if (no_cache(e.eax)) break;
      set_sharing(e.eax, cache_level(e.eax) >= 3 ? id_span : 1);
      e.eax = (e.eax & 0x03ffffffu) | ((id_span - 1) << 26);  // cores per package, minus one
      break;
    case 0x8000001d:  // AMD's caches, the same
      if (no_cache(e.eax)) break;
      set_sharing(e.eax, cache_level(e.eax) >= 3 ? id_span : 1);
      break;
    case 0x80000008:  // ECX: cores minus one, and the APIC ID bits that number them
      e.ecx = (e.ecx & ~0xf0ffu) | (id_bits << 12) | ((vcpus - 1) & 0xff);
      break;
    case 0x8000001e:  // extended APIC ID, core ID, one thread per core, one node
      e.eax = vcpu_id;
      e.ebx = (e.ebx & ~0xffffu) | (vcpu_id & 0xff);
      e.ecx &= ~0x7ffu;
      break;
    default:
      break;
  }
}

std::vector<kvm_cpuid_entry2> topology_leaf(std::uint32_t function, std::uint32_t vcpu_id, std::uint32_t vcpus) {
  vcpus = std::max<std::uint32_t>(vcpus, 1);
  auto level = [&](std::uint32_t index, std::uint32_t shift, std::uint32_t count, std::uint32_t type) {
    return cpuid_subleaf(function, index, shift, count, (type << 8) | index, vcpu_id);
  };
  constexpr std::uint32_t kSmt = 1, kCore = 2;
  return {level(0, 0, 1, kSmt), level(1, core_id_bits(vcpus), vcpus, kCore), level(2, 0, 0, 0)};
}

}  // namespace kxen
