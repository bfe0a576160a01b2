// The netif wire format (xen/io/netif.h) as the network backend uses it: ring types over the
// shared-ring template, and the slot limits netback enforces.
#pragma once

// Xen's public headers expect the C fixed-width types to be declared already.
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/netif.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "xenbus/shared_ring.hpp"

namespace kxen::net {

inline constexpr std::size_t kXenPageSize = 4096;
// Data slots one packet may use: XEN_NETIF_NR_SLOTS_MIN, what every frontend may assume.
inline constexpr unsigned kMaxPacketSlots = XEN_NETIF_NR_SLOTS_MIN;
// netback's fatal_skb_slots default: a frontend asking for more is broken; its ring is disabled.
inline constexpr unsigned kFatalPacketSlots = 20;
// Extra-info slots one packet may carry (one per type; netback overwrites repeats).
inline constexpr unsigned kMaxExtraSlots = XEN_NETIF_EXTRA_TYPE_MAX - 1;
inline constexpr std::size_t kEthHeaderLen = 14;
// The largest frame the tap hands over with GSO on: 64 KiB of IP plus an Ethernet (VLAN) header.
inline constexpr std::size_t kMaxGsoFrame = 65535 + 18;

using TxRing = xenbus::SharedRing<netif_tx_request_t, netif_tx_response_t>;
using RxRing = xenbus::SharedRing<netif_rx_request_t, netif_rx_response_t>;

static_assert(sizeof(netif_tx_request_t) == 12);
static_assert(sizeof(netif_tx_response_t) == 4);
static_assert(sizeof(netif_rx_request_t) == 8);
static_assert(sizeof(netif_rx_response_t) == 8);
static_assert(sizeof(netif_extra_info_t) == 8);
static_assert(offsetof(netif_tx_sring, ring) == xenbus::RingPages::kHeaderSize);
static_assert(offsetof(netif_rx_sring, ring) == xenbus::RingPages::kHeaderSize);
static_assert(__CONST_RING_SIZE(netif_tx, 4096) == xenbus::ring_entries(4096, TxRing::kEntrySize));
static_assert(__CONST_RING_SIZE(netif_rx, 4096) == xenbus::ring_entries(4096, RxRing::kEntrySize));

// An extra-info slot overlays the first 8 bytes of a tx request (or an rx response).
inline netif_extra_info_t extra_from_slot(const netif_tx_request_t& slot) {
  netif_extra_info_t extra;
  std::memcpy(&extra, &slot, sizeof extra);
  return extra;
}

inline netif_rx_response_t extra_as_rx_response(const netif_extra_info_t& extra) {
  netif_rx_response_t rsp;
  std::memcpy(&rsp, &extra, sizeof rsp);
  return rsp;
}

// Pages a frame of `bytes` fills when each slot holds one whole page from offset 0.
constexpr unsigned pages_for(std::size_t bytes) {
  return static_cast<unsigned>((bytes + kXenPageSize - 1) / kXenPageSize);
}

}  // namespace kxen::net
