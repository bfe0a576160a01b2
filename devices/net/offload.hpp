// Checksum and segmentation offload between netif's flags and the VnetHeader a tap with
// IFF_VNET_HDR speaks: the host stack sums and segments, never kxen (except for user mode).
//
// netif says only "checksum blank" (the L4 checksum field holds the pseudo-header sum, Linux's
// CHECKSUM_PARTIAL) and, for GSO, the MSS; virtio wants where the checksum starts and lies, and
// the header length: those come from parsing the frame's Ethernet/IP/TCP-UDP headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/netif_abi.hpp"
#include "net/tx_decoder.hpp"

namespace kxen::net {

// struct VnetHeader (linux/virtio_net.h, which C++ cannot include: a member is named
// `class`), little-endian as a tap on x86 reads and writes it without TUNSETVNETBE.
struct VnetHeader {
  std::uint8_t flags;
  std::uint8_t gso_type;
  std::uint16_t hdr_len;
  std::uint16_t gso_size;
  std::uint16_t csum_start;
  std::uint16_t csum_offset;
};
static_assert(sizeof(VnetHeader) == 10);
inline constexpr std::uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
inline constexpr std::uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_UDP = 3;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

// Bytes of a frame the header parser may need (Ethernet + VLAN + IPv6 with extensions + TCP).
inline constexpr std::size_t kMaxParsedHeader = 256;

struct L4Headers {
  std::uint8_t ip_version = 0;   // 4 or 6
  std::uint8_t protocol = 0;     // IPPROTO_TCP / IPPROTO_UDP / other
  std::uint16_t l4_offset = 0;   // from the start of the frame
  std::uint16_t l4_length = 0;   // the TCP/UDP header's own length (0 for other protocols)
};

// Ethernet (one 802.1Q tag at most), IPv4 (not a fragment) or IPv6 (hop-by-hop, routing and
// destination-option headers skipped), then TCP or UDP. nullopt when `head` does not hold that.
std::optional<L4Headers> parse_l4(std::span<const std::byte> head);

// The virtio header for a transmitted packet whose first bytes are `head`: NEEDS_CSUM with
// start/offset for a blank checksum, GSO type, MSS and header length for GSO. An error when the
// flags ask for something the headers cannot carry (the packet is dropped).
std::expected<VnetHeader, std::string> tx_vnet_header(const TxPacket& packet, std::span<const std::byte> head);

struct RxFeatures {
  bool gso_tcpv4 = false;  // the frontend takes GSO packets (feature-gso-tcpv4 in its node)
  bool gso_tcpv6 = false;
  bool multi_slot = true;  // feature-sg: a packet may span several rx buffers
};

// How a received frame is laid out in rx responses.
struct RxLayout {
  std::uint16_t first_flags = 0;  // NETRXF_csum_blank / data_validated / extra_info
  std::optional<netif_extra_info_t> gso;
  unsigned data_slots = 0;        // one page each, the first at offset 0
  unsigned slots() const { return data_slots + (gso ? 1u : 0u); }
};
std::expected<RxLayout, std::string> rx_layout(const VnetHeader& hdr, std::size_t frame_len, const RxFeatures& f);

// The responses for a frame laid out by `layout` in consecutive rx buffers whose requests had
// `ids` (layout.slots() of them, in ring order): data filling whole pages from offset 0, the GSO
// extra in the slot after the first.
std::vector<netif_rx_response_t> rx_responses(const RxLayout& layout, std::size_t frame_len,
                                              std::span<const std::uint16_t> ids);

// The frame's L4 checksum computed in software where `hdr` says it is blank (user mode: slirp
// wants whole packets). False when the header points outside the frame.
bool finish_checksum(std::span<std::byte> frame, const VnetHeader& hdr);

}  // namespace kxen::net
