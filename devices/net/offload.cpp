#include "net/offload.hpp"

#include <netinet/in.h>

#include <algorithm>

#include <fmt/format.h>

namespace kxen::net {
namespace {

constexpr std::uint16_t kEthTypeIpv4 = 0x0800;
constexpr std::uint16_t kEthTypeIpv6 = 0x86dd;
constexpr std::uint16_t kEthTypeVlan = 0x8100;
constexpr std::uint16_t kTcpChecksumOffset = 16;
constexpr std::uint16_t kUdpChecksumOffset = 6;

std::uint8_t byte_at(std::span<const std::byte> b, std::size_t i) { return std::to_integer<std::uint8_t>(b[i]); }
std::uint16_t be16(std::span<const std::byte> b, std::size_t i) {
  return static_cast<std::uint16_t>(byte_at(b, i) << 8 | byte_at(b, i + 1));
}

// The L4 header at `off` with protocol `proto`: its length, if it fits in `head`.
std::optional<L4Headers> l4_at(std::span<const std::byte> head, std::uint8_t version, std::uint8_t proto, std::size_t off) {
  L4Headers h{version, proto, static_cast<std::uint16_t>(off), 0};
  if (proto == IPPROTO_TCP) {
    if (off + 20 > head.size()) return std::nullopt;
    h.l4_length = static_cast<std::uint16_t>((byte_at(head, off + 12) >> 4) * 4);
    if (h.l4_length < 20 || off + h.l4_length > head.size()) return std::nullopt;
  } else if (proto == IPPROTO_UDP) {
    if (off + 8 > head.size()) return std::nullopt;
    h.l4_length = 8;
  }
  return h;
}

std::optional<L4Headers> parse_ipv4(std::span<const std::byte> head, std::size_t off) {
  if (off + 20 > head.size() || (byte_at(head, off) >> 4) != 4) return std::nullopt;
  const std::size_t ihl = (byte_at(head, off) & 0x0f) * 4u;
  if (ihl < 20) return std::nullopt;
  const std::uint16_t frag = be16(head, off + 6);
  if ((frag & 0x3fff) != 0) return std::nullopt;  // a fragment (MF set or an offset) has no L4 header to sum
  return l4_at(head, 4, byte_at(head, off + 9), off + ihl);
}

std::optional<L4Headers> parse_ipv6(std::span<const std::byte> head, std::size_t off) {
  if (off + 40 > head.size() || (byte_at(head, off) >> 4) != 6) return std::nullopt;
  std::uint8_t next = byte_at(head, off + 6);
  off += 40;
  for (int hops = 0; hops < 4; ++hops) {
    if (next != 0 && next != 43 && next != 60) return l4_at(head, 6, next, off);  // not hop-by-hop/routing/dst-opts
    if (off + 8 > head.size()) return std::nullopt;
    next = byte_at(head, off);
    off += (byte_at(head, off + 1) + 1u) * 8;
  }
  return std::nullopt;
}

std::uint16_t checksum_offset(std::uint8_t protocol) {
  return protocol == IPPROTO_TCP ? kTcpChecksumOffset : kUdpChecksumOffset;
}

}  // namespace

std::optional<L4Headers> parse_l4(std::span<const std::byte> head) {
  if (head.size() < kEthHeaderLen) return std::nullopt;
  std::size_t off = 12;
  std::uint16_t type = be16(head, off);
  if (type == kEthTypeVlan) {
    if (head.size() < kEthHeaderLen + 4) return std::nullopt;
    off += 4;
    type = be16(head, off);
  }
  off += 2;
  if (type == kEthTypeIpv4) return parse_ipv4(head, off);
  if (type == kEthTypeIpv6) return parse_ipv6(head, off);
  return std::nullopt;
}

std::expected<VnetHeader, std::string> tx_vnet_header(const TxPacket& packet, std::span<const std::byte> head) {
  VnetHeader hdr{};
  if (packet.flags & NETTXF_csum_blank) {
    const auto l4 = parse_l4(head);
    if (!l4 || (l4->protocol != IPPROTO_TCP && l4->protocol != IPPROTO_UDP))
      return std::unexpected(std::string("a blank checksum on a packet that is not TCP or UDP over IP"));
    hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr.csum_start = l4->l4_offset;
    hdr.csum_offset = checksum_offset(l4->protocol);
    if (packet.gso) {
      const std::uint8_t want = packet.gso->type == XEN_NETIF_GSO_TYPE_TCPV4 ? 4 : 6;
      if (l4->protocol != IPPROTO_TCP || l4->ip_version != want)
        return std::unexpected(fmt::format("GSO TCPv{} on a packet that is not TCP over IPv{}", want, want));
      hdr.gso_type = want == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
      hdr.gso_size = packet.gso->mss;
      hdr.hdr_len = static_cast<std::uint16_t>(l4->l4_offset + l4->l4_length);
    }
  } else if (packet.flags & NETTXF_data_validated) {
    hdr.flags = VIRTIO_NET_HDR_F_DATA_VALID;
  }
  return hdr;
}

std::expected<RxLayout, std::string> rx_layout(const VnetHeader& hdr, std::size_t frame_len, const RxFeatures& f) {
  RxLayout layout;
  if (frame_len == 0) return std::unexpected(std::string("an empty frame"));
  layout.data_slots = pages_for(frame_len);
  if (layout.data_slots > 1 && !f.multi_slot)
    return std::unexpected(fmt::format("a {}-byte frame for a frontend without feature-sg", frame_len));
  if (layout.data_slots > kMaxPacketSlots) return std::unexpected(fmt::format("a {}-byte frame", frame_len));
  if (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
    layout.first_flags |= NETRXF_csum_blank | NETRXF_data_validated;
  else if (hdr.flags & VIRTIO_NET_HDR_F_DATA_VALID)
    layout.first_flags |= NETRXF_data_validated;
  const std::uint8_t gso = hdr.gso_type & static_cast<std::uint8_t>(~VIRTIO_NET_HDR_GSO_ECN);
  if (gso == VIRTIO_NET_HDR_GSO_NONE) return layout;
  const bool v4 = gso == VIRTIO_NET_HDR_GSO_TCPV4;
  if (!(v4 && f.gso_tcpv4) && !(gso == VIRTIO_NET_HDR_GSO_TCPV6 && f.gso_tcpv6))
    return std::unexpected(fmt::format("GSO type {} the frontend did not ask for", gso));
  if (hdr.gso_size == 0) return std::unexpected(std::string("GSO with an MSS of 0"));
  netif_extra_info_t extra{};
  extra.type = XEN_NETIF_EXTRA_TYPE_GSO;
  extra.u.gso.size = hdr.gso_size;
  extra.u.gso.type = v4 ? XEN_NETIF_GSO_TYPE_TCPV4 : XEN_NETIF_GSO_TYPE_TCPV6;
  layout.gso = extra;
  layout.first_flags |= NETRXF_extra_info;
  return layout;
}

std::vector<netif_rx_response_t> rx_responses(const RxLayout& layout, std::size_t frame_len,
                                              std::span<const std::uint16_t> ids) {
  std::vector<netif_rx_response_t> out;
  std::size_t left = frame_len;
  std::size_t next_id = 0;
  for (unsigned slot = 0; slot < layout.data_slots; ++slot) {
    netif_rx_response_t rsp{};
    rsp.id = next_id < ids.size() ? ids[next_id] : 0;
    ++next_id;
    const std::size_t here = std::min(left, kXenPageSize);
    left -= here;
    rsp.offset = 0;
    rsp.status = static_cast<std::int16_t>(here);
    rsp.flags = static_cast<std::uint16_t>((slot == 0 ? layout.first_flags : 0) | (left > 0 ? NETRXF_more_data : 0));
    out.push_back(rsp);
    if (slot == 0 && layout.gso) {
      out.push_back(extra_as_rx_response(*layout.gso));
      ++next_id;
    }
  }
  return out;
}

bool finish_checksum(std::span<std::byte> frame, const VnetHeader& hdr) {
  if (!(hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return true;
  const std::size_t start = hdr.csum_start;
  const std::size_t field = start + hdr.csum_offset;
  if (start >= frame.size() || field + 2 > frame.size()) return false;
  // The field holds the pseudo-header sum: summing the L4 bytes with it gives the checksum.
  std::uint64_t sum = 0;
  for (std::size_t i = start; i + 1 < frame.size(); i += 2)
    sum += static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(frame[i]) << 8 | std::to_integer<std::uint8_t>(frame[i + 1]));
  if ((frame.size() - start) % 2 != 0) sum += static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(frame.back()) << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  std::uint16_t result = static_cast<std::uint16_t>(~sum & 0xffff);
  if (result == 0) result = 0xffff;  // UDP: 0 would mean "no checksum"; TCP accepts either form
  frame[field] = std::byte{static_cast<std::uint8_t>(result >> 8)};
  frame[field + 1] = std::byte{static_cast<std::uint8_t>(result & 0xff)};
  return true;
}

}  // namespace kxen::net
