// One CPUID table entry as KVM_SET_CPUID2 takes it.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace kxen {

inline kvm_cpuid_entry2 cpuid_entry(std::uint32_t function, std::uint32_t index, std::uint32_t flags,
                                    std::uint32_t eax, std::uint32_t ebx, std::uint32_t ecx, std::uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = flags;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

// A leaf whose subleaf index does not matter.
inline kvm_cpuid_entry2 cpuid_leaf(std::uint32_t function, std::uint32_t eax, std::uint32_t ebx = 0,
                                   std::uint32_t ecx = 0, std::uint32_t edx = 0) {
  return cpuid_entry(function, 0, 0, eax, ebx, ecx, edx);
}

// Subleaf `index` of a leaf that has several.
inline kvm_cpuid_entry2 cpuid_subleaf(std::uint32_t function, std::uint32_t index, std::uint32_t eax,
                                      std::uint32_t ebx, std::uint32_t ecx, std::uint32_t edx) {
  return cpuid_entry(function, index, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, eax, ebx, ecx, edx);
}

}  // namespace kxen
