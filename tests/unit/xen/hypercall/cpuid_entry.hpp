// A CPUID table entry as KVM_GET_SUPPORTED_CPUID would list it, for the CPUID tests.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace kxen::test {

inline kvm_cpuid_entry2 cpuid_entry(std::uint32_t fn, std::uint32_t index, std::uint32_t flags, std::uint32_t eax,
                                    std::uint32_t ebx, std::uint32_t ecx, std::uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.index = index;
  e.flags = flags;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

}  // namespace kxen::test
