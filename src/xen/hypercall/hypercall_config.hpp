// What the hypercall core reports to the guest; filled by the VM builder from its configuration.
#pragma once

#include <xen/features.h>

#include <array>
#include <cstdint>
#include <string>

namespace kxen {

// XENVER_get_features submap 0 that Xen 4.17 reports to an HVM/PVH domU without passthrough
// (common/kernel.c): translated physmap with writable page tables, HVM callback vector and safe
// pvclock, vNUMA-aware memory_op, not direct-mapped. No hvm_pirqs (no emulated PIRQs), no
// supervisor_mode_kernel (PV only), no dom0.
inline constexpr std::uint32_t kPvhDomUFeatures =
    (1u << XENFEAT_writable_page_tables) | (1u << XENFEAT_auto_translated_physmap) |
    (1u << XENFEAT_hvm_callback_vector) | (1u << XENFEAT_hvm_safe_pvclock) |
    (1u << XENFEAT_memory_op_vnode_supported) | (1u << XENFEAT_not_direct_mapped);

struct HypercallConfig {
  std::uint32_t vcpu_count = 1;
  std::uint32_t features = kPvhDomUFeatures;             // XENVER_get_features submap 0
  std::string extraversion = ".0-kxen";                   // XENVER_extraversion (<= 15 chars kept)
  std::array<std::uint8_t, 16> guest_handle{};            // XENVER_guest_handle (the domain UUID)
};

}  // namespace kxen
