#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "xen/hypercall/xen_abi.hpp"
#include "xen/hypercall/cpuid.hpp"
#include "xen/hypercall/cpuid_entry.hpp"
#include "kxen/hypercall.hpp"

using namespace kxen;

namespace {
constexpr auto entry = cpuid_entry;
constexpr std::uint32_t kSig = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;

// What KVM_GET_SUPPORTED_CPUID looks like, abridged.
std::vector<kvm_cpuid_entry2> host_table() {
  return {
      entry(0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69),
      entry(1, 0, 0, 0x000906ea, 0x05100800, 0x7ffafbff, 0xbfebfbff),
      entry(7, 0, kSig, 0, 0x029c6fbf, 0x4, 0xbc000400),
      entry(0xb, 0, kSig, 1, 2, 0x100, 0x7),
      entry(0xb, 1, kSig, 4, 8, 0x201, 0x7),
      entry(0x1f, 0, kSig, 1, 2, 0x100, 0x7),
      entry(0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),  // "KVMKVMKVM"
      entry(0x40000001, 0, 0, 0x01007afb, 0, 0, 0),
      entry(0x40000100, 0, 0, 0x40000101, 0, 0, 0),
      entry(0x80000001, 0, 0, 0, 0, 0x121, 0x2c100800),  // RDTSCP (EDX bit 27) set
  };
}

std::optional<kvm_cpuid_entry2> find(const std::vector<kvm_cpuid_entry2>& t, std::uint32_t fn, std::uint32_t index = 0) {
  for (const auto& e : t)
    if (e.function == fn && (!(e.flags & kSig) || e.index == index)) return e;
  return std::nullopt;
}
}  // namespace

TEST_CASE("CPUID: Xen leaves replace the host's hypervisor range", "[hypercall]") {
  XenCpuidConfig config;
  config.tsc_khz = 2'000'000;
  config.domid = 7;
  const auto t = merge_guest_cpuid(host_table(), 3, config);
  for (const auto& e : t)
    if (e.function >= 0x40000000 && e.function <= 0x4fffffff) CHECK(e.ebx != 0x4b4d564bu);  // no KVM signature
  CHECK_FALSE(find(t, 0x40000100));

  const auto base = *find(t, 0x40000000);
  char sig[13] = {};
  std::memcpy(sig, &base.ebx, 4);
  std::memcpy(sig + 4, &base.ecx, 4);
  std::memcpy(sig + 8, &base.edx, 4);
  CHECK(std::string(sig) == "XenVMMXenVMM");
  CHECK(base.eax == 0x40000000u + XEN_CPUID_MAX_NUM_LEAVES);  // Xen 4.17: largest leaf base+5
  CHECK(find(t, 0x40000001)->eax == ((4u << 16) | 17u));
  CHECK(find(t, 0x40000002)->eax == 1u);
  CHECK(find(t, 0x40000002)->ebx == kHypercallMsr);

  const auto hvm = *find(t, 0x40000004, 0);
  CHECK((hvm.eax & XEN_HVM_CPUID_VCPU_ID_PRESENT));
  CHECK((hvm.eax & XEN_HVM_CPUID_DOMID_PRESENT));
  CHECK_FALSE((hvm.eax & XEN_HVM_CPUID_UPCALL_VECTOR));
  CHECK_FALSE((hvm.eax & XEN_HVM_CPUID_X2APIC_VIRT));
  CHECK(hvm.ebx == 3u);
  CHECK(hvm.ecx == 7u);
  CHECK(find(t, 0x40000005).has_value());
}

TEST_CASE("CPUID: time leaf carries the TSC frequency and scale", "[hypercall]") {
  XenCpuidConfig config;
  config.tsc_khz = 3'000'000;
  config.tsc_reliable = true;
  config.tsc_offset = 0x123456789ull;
  const auto t = merge_guest_cpuid(host_table(), 0, config);
  const auto s0 = *find(t, 0x40000003, 0);
  CHECK(s0.eax == ((1u << 1) | (1u << 2)));  // reliable TSC, RDTSCP; not emulated
  CHECK(s0.ebx == 0u);                        // tsc_mode default
  CHECK(s0.ecx == 3'000'000u);
  const auto s1 = *find(t, 0x40000003, 1);
  CHECK(s1.eax == 0x23456789u);
  CHECK(s1.ebx == 0x1u);
  CHECK(s1.ecx == 2863311530u);              // 2^32 * 1e9 / 1.5e9
  CHECK(s1.edx == 0xffffffffu);              // shift -1, sign-extended
  CHECK(find(t, 0x40000003, 2)->eax == 3'000'000u);
  CHECK((s0.flags & kSig));

  auto host = host_table();
  host.pop_back();  // no RDTSCP
  CHECK(find(merge_guest_cpuid(host, 0, config), 0x40000003, 0)->eax == (1u << 1));
}

TEST_CASE("CPUID: config flags and per-vCPU ids", "[hypercall]") {
  XenCpuidConfig config;
  config.upcall_vector = true;
  config.x2apic_virt = true;
  const auto t = merge_guest_cpuid(host_table(), 9, config);
  const auto hvm = *find(t, 0x40000004, 0);
  CHECK((hvm.eax & XEN_HVM_CPUID_UPCALL_VECTOR));
  CHECK((hvm.eax & XEN_HVM_CPUID_X2APIC_VIRT));

  const auto l1 = *find(t, 1);
  CHECK((l1.ecx & (1u << 31)));                   // hypervisor present
  CHECK(l1.ebx >> 24 == 9u);                      // initial APIC ID
  CHECK((l1.ebx & 0xffffu) == 0x0800u);           // rest of EBX kept
  CHECK(((l1.ebx >> 16) & 0xffu) == 1u);          // one vCPU: one logical CPU per package
  CHECK(find(t, 0xb, 0)->edx == 9u);
  CHECK(find(t, 0xb, 1)->edx == 9u);
  CHECK(find(t, 0x1f, 0)->edx == 9u);
  CHECK(find(t, 0xb, 1)->ecx == 0x201u);          // level 1 is the core level
  CHECK(find(t, 0xb, 2)->ecx == 0x2u);            // and the last
  CHECK(find(t, 0x1f, 1)->edx == 9u);             // 0x1f rebuilt alike

  const auto l7 = *find(t, 7, 0);                 // indexed entries survive intact
  CHECK(l7.flags == kSig);
  CHECK(l7.ebx == 0x029c6fbfu);
  const auto host = host_table();
  // Three hypervisor leaves dropped; 0xb (two subleaves) and 0x1f (one) become three each.
  CHECK(std::count_if(t.begin(), t.end(), [](auto& e) { return e.function < 0x40000000 || e.function > 0x4fffffff; }) ==
        static_cast<long>(host.size()) - 3 - 3 + 6);
}

TEST_CASE("CPUID without an in-kernel LAPIC hides APIC, x2APIC and TSC-deadline (hypercall-page)", "[hypercall]") {
  XenCpuidConfig config;
  config.x2apic_virt = true;
  config.lapic = false;
  const auto t = merge_guest_cpuid(host_table(), 0, config);
  const auto l1 = find(t, 1);
  REQUIRE(l1);
  CHECK((l1->edx & (1u << 9)) == 0);   // APIC
  CHECK((l1->ecx & (1u << 21)) == 0);  // x2APIC
  CHECK((l1->ecx & (1u << 24)) == 0);  // TSC-deadline
  CHECK((l1->ecx & (1u << 31)) != 0);  // still a hypervisor
  CHECK((l1->edx & ~(1u << 9)) == (0xbfebfbffu & ~(1u << 9)));  // nothing else changes
  const auto ext = find(t, 0x80000001);
  REQUIRE(ext);
  CHECK((ext->edx & (1u << 9)) == 0);
  CHECK((ext->edx & (1u << 27)) != 0);  // RDTSCP kept
  const auto hvm = find(t, 0x40000004);
  REQUIRE(hvm);
  CHECK((hvm->eax & XEN_HVM_CPUID_X2APIC_VIRT) == 0);

  config.lapic = true;
  const auto with = find(merge_guest_cpuid(host_table(), 0, config), 1);
  CHECK((with->ecx & (1u << 21)) != 0);
  CHECK((with->edx & (1u << 9)) != 0);
}

TEST_CASE("CPUID: a 4-vCPU guest sees one package of 4 cores even where the host lists no core level", "[hypercall]") {
  XenCpuidConfig config;
  config.vcpus = 4;
  auto host = host_table();
  std::erase_if(host, [](const auto& e) { return e.function == 0xb && e.index == 1; });
  const auto t = merge_guest_cpuid(host, 2, config);
  const auto core = find(t, 0xb, 1);
  REQUIRE(core);
  CHECK(core->eax == 2);
  CHECK(core->ebx == 4);
  CHECK(core->edx == 2);
  CHECK(((find(t, 1)->ebx >> 16) & 0xff) == 4);
  CHECK(std::count_if(t.begin(), t.end(), [](auto& e) { return e.function == 0xb; }) == 3);
}
