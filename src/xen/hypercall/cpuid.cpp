#include "xen/hypercall/cpuid.hpp"

#include <algorithm>

#include "xen/hypercall/cpu_topology.hpp"
#include "xen/hypercall/cpuid_entry.hpp"
#include "xen/hypercall/xen_abi.hpp"
#include "xen/hypercall/xen_version.hpp"
#include "kxen/hypercall.hpp"

namespace kxen {

namespace {
constexpr std::uint32_t kBase = XEN_CPUID_FIRST_LEAF;
constexpr std::uint32_t kHypervisorRangeEnd = 0x4fffffff;
constexpr std::uint32_t kLeaf1HypervisorBit = 1u << 31;
constexpr std::uint32_t kExtFeatures = 0x80000001;
constexpr std::uint32_t kRdtscpBit = 1u << 27;  // CPUID 0x80000001 EDX
constexpr std::uint32_t kApicBit = 1u << 9;       // CPUID 1 and 0x80000001 EDX
constexpr std::uint32_t kX2apicBit = 1u << 21;    // CPUID 1 ECX
constexpr std::uint32_t kTscDeadlineBit = 1u << 24;  // CPUID 1 ECX: a LAPIC timer mode

// Leaf base+3 (time), subleaves 0..2, as Xen fills them for a domain without TSC emulation.
void add_time_leaf(std::vector<kvm_cpuid_entry2>& out, const XenCpuidConfig& c, bool rdtscp) {
  const std::uint32_t flags = (c.tsc_reliable ? 1u << 1 : 0u) | (rdtscp ? 1u << 2 : 0u);  // bit 0: vtsc off
  const TscScale scale = tsc_to_ns_scale(std::uint64_t{c.tsc_khz} * 1000);
  const auto shift = static_cast<std::uint32_t>(static_cast<std::int32_t>(scale.shift));
  out.push_back(cpuid_subleaf(kBase + 3, 0, flags, /*tsc_mode default*/ 0, c.tsc_khz, /*incarnation*/ 0));
  out.push_back(cpuid_subleaf(kBase + 3, 1, static_cast<std::uint32_t>(c.tsc_offset),
                        static_cast<std::uint32_t>(c.tsc_offset >> 32), scale.mul_frac, shift));
  out.push_back(cpuid_subleaf(kBase + 3, 2, c.tsc_khz, 0, 0, 0));
}

std::uint32_t hvm_flags(const XenCpuidConfig& c) {
  std::uint32_t flags = XEN_HVM_CPUID_IOMMU_MAPPINGS | XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT;
  if (c.x2apic_virt && c.lapic) flags |= XEN_HVM_CPUID_X2APIC_VIRT;
  if (c.upcall_vector) flags |= XEN_HVM_CPUID_UPCALL_VECTOR;
  return flags;
}

bool host_rdtscp(std::span<const kvm_cpuid_entry2> host) {
  return std::any_of(host.begin(), host.end(),
                     [](const auto& e) { return e.function == kExtFeatures && (e.edx & kRdtscpBit); });
}
}  // namespace

std::vector<kvm_cpuid_entry2> xen_cpuid_leaves(std::uint32_t vcpu_id, const XenCpuidConfig& config,
                                               bool host_has_rdtscp) {
  std::vector<kvm_cpuid_entry2> out;
  out.push_back(cpuid_leaf(kBase, kBase + XEN_CPUID_MAX_NUM_LEAVES, XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX,
                     XEN_CPUID_SIGNATURE_EDX));
  out.push_back(cpuid_leaf(kBase + 1, (kXenVersionMajor << 16) | kXenVersionMinor));
  out.push_back(cpuid_leaf(kBase + 2, /*hypercall pages*/ 1, kHypercallMsr));
  add_time_leaf(out, config, host_has_rdtscp);
  out.push_back(cpuid_subleaf(kBase + 4, 0, hvm_flags(config), vcpu_id, config.domid, 0));
  out.push_back(cpuid_leaf(kBase + 5, 0));  // PV-only parameters: empty for HVM
  return out;
}

std::vector<kvm_cpuid_entry2> merge_guest_cpuid(std::span<const kvm_cpuid_entry2> host, std::uint32_t vcpu_id,
                                                const XenCpuidConfig& config) {
  std::vector<kvm_cpuid_entry2> out;
  out.reserve(host.size() + 8);
  bool has_leaf_0b = false, has_leaf_1f = false;
  for (kvm_cpuid_entry2 e : host) {
    if (e.function >= kBase && e.function <= kHypervisorRangeEnd) continue;
    if (e.function == 0xb || e.function == 0x1f) {  // replaced whole below
      (e.function == 0xb ? has_leaf_0b : has_leaf_1f) = true;
      continue;
    }
    if (e.function == 1) {
      e.ecx |= kLeaf1HypervisorBit;
      e.ebx = (e.ebx & 0x00ffffffu) | ((vcpu_id & 0xffu) << 24);
      // A guest told of an APIC that is not there takes #GP on its first x2APIC MSR.
      if (!config.lapic) e.edx &= ~kApicBit, e.ecx &= ~(kX2apicBit | kTscDeadlineBit);
    } else if (e.function == kExtFeatures && !config.lapic) {
      e.edx &= ~kApicBit;
    }
    describe_topology(e, vcpu_id, config.vcpus);
    out.push_back(e);
  }
  for (std::uint32_t fn : {0xbu, 0x1fu}) {
    if (!(fn == 0xb ? has_leaf_0b : has_leaf_1f)) continue;
    const auto levels = topology_leaf(fn, vcpu_id, config.vcpus);
    out.insert(out.end(), levels.begin(), levels.end());
  }
  const auto xen = xen_cpuid_leaves(vcpu_id, config, host_rdtscp(host));
  out.insert(out.end(), xen.begin(), xen.end());
  return out;
}

}  // namespace kxen
