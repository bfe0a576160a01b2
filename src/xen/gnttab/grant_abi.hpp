// Xen's grant-table ABI as kxen uses it: public headers at the interface version that has
// v2 entries, plus the overlay-key space for grant frames in GuestMemory.
#pragma once

// grant_entry_v2_t and GNTTABOP_set_version need interface >= 0x0003020a; a guest-side default
// of 0 would hide them. Must precede the first Xen header in the translation unit.
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/memory.h>

#if __XEN_INTERFACE_VERSION__ < 0x0003020a
#error "a Xen header was included before xen/gnttab/grant_abi.hpp without __XEN_INTERFACE_VERSION__"
#endif

#include <cstddef>
#include <cstdint>

namespace kxen {

static_assert(sizeof(grant_entry_v1_t) == 8);
static_assert(sizeof(grant_entry_v2_t) == 16);
static_assert(offsetof(grant_entry_v2_t, full_page.frame) == 8);
static_assert(offsetof(grant_entry_v2_t, sub_page.page_off) == 4);
static_assert(offsetof(grant_entry_v2_t, sub_page.length) == 6);
static_assert(sizeof(grant_status_t) == 2);

// GuestMemory::map_overlay keys of grant frames: kGrantOverlayKeyBase | index for shared
// frames, with kGrantOverlayStatusBit added for v2 status frames. Other overlays must avoid
// keys whose top 32 bits equal those of kGrantOverlayKeyBase.
inline constexpr std::uint64_t kGrantOverlayKeyBase = 0x676e'7474'0000'0000ull;  // "gntt"
inline constexpr std::uint64_t kGrantOverlayStatusBit = 0x8000'0000ull;

inline constexpr std::uint64_t grant_overlay_key(std::uint32_t index, bool status) {
  return kGrantOverlayKeyBase | (status ? kGrantOverlayStatusBit : 0) | (index & 0x7fff'ffffu);
}

}  // namespace kxen
