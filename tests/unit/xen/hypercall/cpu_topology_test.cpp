#include <catch2/catch.hpp>

#include "xen/hypercall/cpu_topology.hpp"
#include "xen/hypercall/cpuid_entry.hpp"

using namespace kxen;

namespace {
kvm_cpuid_entry2 entry(std::uint32_t fn, std::uint32_t index, std::uint32_t eax, std::uint32_t ebx,
                       std::uint32_t ecx, std::uint32_t edx) {
  return cpuid_entry(fn, index, 0, eax, ebx, ecx, edx);
}

kvm_cpuid_entry2 described(kvm_cpuid_entry2 e, std::uint32_t vcpu, std::uint32_t vcpus) {
  describe_topology(e, vcpu, vcpus);
  return e;
}

std::uint32_t sharing(const kvm_cpuid_entry2& e) { return ((e.eax >> 14) & 0xfff) + 1; }

// A two-CPU host as L1 shows it: caches shared by 2 logical CPUs, 2 cores, 2 APIC ID bits.
constexpr std::uint32_t kL1Data = 0x121 | (1u << 14);   // level 1, data, 2 sharing
constexpr std::uint32_t kL3Unified = 0x163 | (1u << 14);  // level 3, unified, 2 sharing
}  // namespace

TEST_CASE("Topology: every vCPU shares the last-level cache, L1 and L2 are per core", "[hypercall]") {
  for (std::uint32_t fn : {4u, 0x8000001du}) {
    CAPTURE(fn);
    CHECK(sharing(described(entry(fn, 3, kL3Unified, 0x3f, 0xfff, 0), 2, 4)) == 4);
    CHECK(sharing(described(entry(fn, 3, kL3Unified, 0x3f, 0xfff, 0), 0, 3)) == 4);  // a power of two covers 3
    CHECK(sharing(described(entry(fn, 0, kL1Data, 0x3f, 0x3f, 0), 1, 4)) == 1);
    const auto l3 = described(entry(fn, 3, kL3Unified, 0x3f, 0xfff, 0), 1, 4);
    CHECK((l3.eax & 0x3fff) == (kL3Unified & 0x3fff));  // type and level kept
    CHECK(l3.ebx == 0x3f);
    CHECK(described(entry(fn, 4, 0, 0, 0, 0), 1, 4).eax == 0);  // the end of the list stays the end
  }
  CHECK(described(entry(4, 3, kL3Unified, 0, 0, 0), 0, 4).eax >> 26 == 3);  // Intel: 4 cores per package
}

TEST_CASE("Topology: leaf 0xb and 0x1f give one thread per core, vcpus cores, then the end", "[hypercall]") {
  for (std::uint32_t fn : {0xbu, 0x1fu}) {
    CAPTURE(fn);
    const auto levels = topology_leaf(fn, 5, 6);
    REQUIRE(levels.size() == 3);
    for (std::uint32_t i = 0; i < 3; ++i) {
      CHECK(levels[i].function == fn);
      CHECK(levels[i].index == i);
      CHECK(levels[i].flags == KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
      CHECK(levels[i].edx == 5);  // x2APIC ID
      CHECK((levels[i].ecx & 0xff) == i);
    }
    CHECK(levels[0].eax == 0);
    CHECK(levels[0].ebx == 1);
    CHECK(levels[0].ecx >> 8 == 1);  // SMT
    CHECK(levels[1].eax == 3);       // APIC IDs 0..5 need 3 bits
    CHECK(levels[1].ebx == 6);
    CHECK(levels[1].ecx >> 8 == 2);  // core
    CHECK(levels[2].ebx == 0);
    CHECK(levels[2].ecx >> 8 == 0);  // no such level
  }
  CHECK(topology_leaf(0xb, 0, 1)[1].eax == 0);  // one vCPU: no core bits
  CHECK(topology_leaf(0xb, 0, 1)[1].ebx == 1);
}

TEST_CASE("Topology: leaf 1, 0x80000008 and 0x8000001e count the vCPUs", "[hypercall]") {
  const auto one = described(entry(1, 0, 0x906ea, 0x05100800, 0, 0xbfebfbff), 0, 1);
  CHECK(((one.ebx >> 16) & 0xff) == 1);
  CHECK((one.ebx & 0xff00ffff) == 0x05000800);  // APIC ID and the rest kept
  CHECK(one.edx == 0xbfebfbff);
  const auto four = described(entry(1, 0, 0x906ea, 0x05100800, 0, 0xafebfbff), 3, 4);
  CHECK(((four.ebx >> 16) & 0xff) == 4);
  CHECK((four.edx & (1u << 28)) != 0);

  const auto sizes = described(entry(0x80000008, 0, 0x3030, 0, 0x00031001, 0), 0, 3);
  CHECK((sizes.ecx & 0xff) == 2);           // cores minus one
  CHECK(((sizes.ecx >> 12) & 0xf) == 2);    // APIC ID bits
  CHECK((sizes.ecx & 0x30000) == 0x30000);  // the TSC counter size kept
  CHECK(sizes.eax == 0x3030);

  const auto ids = described(entry(0x8000001e, 0, 1, 0x0101, 0x0301, 0), 2, 4);
  CHECK(ids.eax == 2);
  CHECK((ids.ebx & 0xff) == 2);
  CHECK(((ids.ebx >> 8) & 0xff) == 0);  // one thread per core
  CHECK((ids.ecx & 0x7ff) == 0);        // node 0 of one
}

TEST_CASE("Topology leaves other functions alone", "[hypercall]") {
  const auto e = described(entry(7, 0, 1, 2, 3, 4), 1, 4);
  CHECK(e.eax == 1);
  CHECK(e.ebx == 2);
  CHECK(e.ecx == 3);
  CHECK(e.edx == 4);
}
