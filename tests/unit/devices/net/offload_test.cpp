// Offload translation: netif flags <-> virtio_net_hdr, header parsing, rx response layout and the
// software checksum used for user mode.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "net/offload.hpp"

using namespace kxen::net;

namespace {

using Bytes = std::vector<std::byte>;

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = std::byte{static_cast<std::uint8_t>(v >> 8)};
  b[at + 1] = std::byte{static_cast<std::uint8_t>(v)};
}

// Ethernet + IPv4 (or IPv6) + TCP (20-byte header with `tcp_options` more) or UDP, with payload.
Bytes frame(int ip_version, std::uint8_t proto, std::size_t payload, bool vlan = false, std::size_t tcp_options = 0) {
  Bytes b(14 + (vlan ? 4 : 0));
  std::size_t off = 12;
  if (vlan) {
    put16(b, off, 0x8100);
    off += 4;
  }
  put16(b, off, ip_version == 4 ? 0x0800 : 0x86dd);
  const std::size_t l3 = b.size();
  const std::size_t l4_len = proto == IPPROTO_TCP ? 20 + tcp_options : 8;
  b.resize(l3 + (ip_version == 4 ? 20 : 40) + l4_len + payload);
  if (ip_version == 4) {
    b[l3] = std::byte{0x45};
    put16(b, l3 + 2, static_cast<std::uint16_t>(20 + l4_len + payload));
    b[l3 + 9] = std::byte{proto};
    b[l3 + 12] = std::byte{192};
    b[l3 + 15] = std::byte{2};
  } else {
    b[l3] = std::byte{0x60};
    put16(b, l3 + 4, static_cast<std::uint16_t>(l4_len + payload));
    b[l3 + 6] = std::byte{proto};
    b[l3 + 8] = std::byte{0x20};
    b[l3 + 39] = std::byte{1};
  }
  const std::size_t l4 = l3 + (ip_version == 4 ? 20 : 40);
  if (proto == IPPROTO_TCP) b[l4 + 12] = std::byte{static_cast<std::uint8_t>(((20 + tcp_options) / 4) << 4)};
  for (std::size_t i = l4 + l4_len; i < b.size(); ++i) b[i] = std::byte{static_cast<std::uint8_t>(i * 13)};
  return b;
}

TxPacket packet(std::uint16_t flags, std::optional<GsoRequest> gso = std::nullopt) {
  TxPacket p;
  p.flags = flags;
  p.gso = gso;
  return p;
}

// Ones' complement sum of 16-bit words over b[from, to).
std::uint32_t sum16(const Bytes& b, std::size_t from, std::size_t to, std::uint32_t sum = 0) {
  for (std::size_t i = from; i < to; i += 2) {
    const std::uint32_t hi = std::to_integer<std::uint8_t>(b[i]);
    const std::uint32_t lo = i + 1 < to ? std::to_integer<std::uint8_t>(b[i + 1]) : 0;
    sum += hi << 8 | lo;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

}  // namespace

TEST_CASE("offload: header parsing", "[net]") {
  auto h = parse_l4(frame(4, IPPROTO_TCP, 10, false, 12));
  REQUIRE(h);
  CHECK(h->ip_version == 4);
  CHECK(h->protocol == IPPROTO_TCP);
  CHECK(h->l4_offset == 34);
  CHECK(h->l4_length == 32);
  h = parse_l4(frame(6, IPPROTO_UDP, 10, true));
  REQUIRE(h);
  CHECK(h->ip_version == 6);
  CHECK(h->l4_offset == 18 + 40);
  CHECK(h->l4_length == 8);
  CHECK_FALSE(parse_l4(Bytes(10)));
  Bytes arp(60);
  put16(arp, 12, 0x0806);
  CHECK_FALSE(parse_l4(arp));
  Bytes fragment = frame(4, IPPROTO_UDP, 10);
  put16(fragment, 14 + 6, 0x2000);  // more fragments
  CHECK_FALSE(parse_l4(fragment));
  Bytes truncated = frame(4, IPPROTO_TCP, 0, false, 40);
  truncated.resize(14 + 20 + 30);
  CHECK_FALSE(parse_l4(truncated));
}

TEST_CASE("offload: tx flags become a virtio header", "[net]") {
  const Bytes tcp4 = frame(4, IPPROTO_TCP, 100);
  auto hdr = tx_vnet_header(packet(NETTXF_csum_blank | NETTXF_data_validated), tcp4);
  REQUIRE(hdr);
  CHECK(hdr->flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
  CHECK(hdr->csum_start == 34);
  CHECK(hdr->csum_offset == 16);
  CHECK(hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE);

  hdr = tx_vnet_header(packet(NETTXF_csum_blank, GsoRequest{XEN_NETIF_GSO_TYPE_TCPV4, 1448}), tcp4);
  REQUIRE(hdr);
  CHECK(hdr->gso_type == VIRTIO_NET_HDR_GSO_TCPV4);
  CHECK(hdr->gso_size == 1448);
  CHECK(hdr->hdr_len == 54);

  hdr = tx_vnet_header(packet(NETTXF_csum_blank, GsoRequest{XEN_NETIF_GSO_TYPE_TCPV6, 1428}), frame(6, IPPROTO_TCP, 100));
  REQUIRE(hdr);
  CHECK(hdr->gso_type == VIRTIO_NET_HDR_GSO_TCPV6);
  CHECK(hdr->hdr_len == 74);

  hdr = tx_vnet_header(packet(NETTXF_csum_blank), frame(6, IPPROTO_UDP, 5));
  REQUIRE(hdr);
  CHECK(hdr->csum_offset == 6);

  hdr = tx_vnet_header(packet(NETTXF_data_validated), tcp4);
  REQUIRE(hdr);
  CHECK(hdr->flags == VIRTIO_NET_HDR_F_DATA_VALID);
  hdr = tx_vnet_header(packet(0), Bytes(60));
  REQUIRE(hdr);
  CHECK(hdr->flags == 0);
}

TEST_CASE("offload: tx requests the headers cannot carry are refused", "[net]") {
  CHECK_FALSE(tx_vnet_header(packet(NETTXF_csum_blank), Bytes(60)));  // not IP
  CHECK_FALSE(tx_vnet_header(packet(NETTXF_csum_blank, GsoRequest{XEN_NETIF_GSO_TYPE_TCPV4, 1448}),
                             frame(6, IPPROTO_TCP, 100)));  // v4 GSO on v6
  CHECK_FALSE(tx_vnet_header(packet(NETTXF_csum_blank, GsoRequest{XEN_NETIF_GSO_TYPE_TCPV4, 1448}),
                             frame(4, IPPROTO_UDP, 100)));  // TCP GSO on UDP
}

TEST_CASE("offload: rx layout and responses", "[net]") {
  RxFeatures f{true, true, true};
  VnetHeader hdr{};
  auto layout = rx_layout(hdr, 60, f);
  REQUIRE(layout);
  CHECK(layout->data_slots == 1);
  CHECK(layout->first_flags == 0);
  const std::uint16_t ids[] = {4, 5, 6, 7, 8};
  auto rsp = rx_responses(*layout, 60, std::span(ids, 1));
  REQUIRE(rsp.size() == 1);
  CHECK(rsp[0].id == 4);
  CHECK(rsp[0].status == 60);
  CHECK(rsp[0].flags == 0);

  hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
  hdr.gso_size = 1448;
  layout = rx_layout(hdr, 10000, f);
  REQUIRE(layout);
  CHECK(layout->data_slots == 3);
  CHECK(layout->slots() == 4);
  rsp = rx_responses(*layout, 10000, std::span(ids, 4));
  REQUIRE(rsp.size() == 4);
  CHECK(rsp[0].id == 4);
  CHECK(rsp[0].status == 4096);
  CHECK(rsp[0].flags == (NETRXF_csum_blank | NETRXF_data_validated | NETRXF_extra_info | NETRXF_more_data));
  netif_extra_info_t extra;
  std::memcpy(&extra, &rsp[1], sizeof extra);
  CHECK(extra.type == XEN_NETIF_EXTRA_TYPE_GSO);
  CHECK(extra.flags == 0);
  CHECK(extra.u.gso.size == 1448);
  CHECK(extra.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV4);
  CHECK(rsp[2].id == 6);
  CHECK(rsp[2].status == 4096);
  CHECK(rsp[2].flags == NETRXF_more_data);
  CHECK(rsp[3].id == 7);
  CHECK(rsp[3].status == 10000 - 8192);
  CHECK(rsp[3].flags == 0);

  hdr = VnetHeader{};
  hdr.flags = VIRTIO_NET_HDR_F_DATA_VALID;
  layout = rx_layout(hdr, 9014, f);
  REQUIRE(layout);
  CHECK(layout->first_flags == NETRXF_data_validated);
  CHECK(layout->slots() == 3);
}

TEST_CASE("offload: rx frames the frontend cannot take", "[net]") {
  VnetHeader hdr{};
  CHECK_FALSE(rx_layout(hdr, 0, RxFeatures{}));
  CHECK_FALSE(rx_layout(hdr, 5000, RxFeatures{false, false, false}));  // no feature-sg
  CHECK_FALSE(rx_layout(hdr, 18 * 4096 + 1, RxFeatures{true, true, true}));
  hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
  hdr.gso_size = 1400;
  CHECK_FALSE(rx_layout(hdr, 5000, RxFeatures{true, false, true}));  // no feature-gso-tcpv6
  hdr.gso_type = VIRTIO_NET_HDR_GSO_UDP;
  CHECK_FALSE(rx_layout(hdr, 5000, RxFeatures{true, true, true}));
  hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  hdr.gso_size = 0;
  CHECK_FALSE(rx_layout(hdr, 5000, RxFeatures{true, true, true}));
}

TEST_CASE("offload: software checksum over a partial (pseudo-header) sum", "[net]") {
  for (std::size_t payload : {0u, 1u, 100u, 1001u}) {
    Bytes b = frame(4, IPPROTO_TCP, payload);
    const std::size_t l4 = 34;
    const std::size_t len = b.size() - l4;
    // The pseudo-header sum, as Linux leaves it in a CHECKSUM_PARTIAL packet.
    std::uint32_t pseudo = sum16(b, 14 + 12, 14 + 20) + IPPROTO_TCP + static_cast<std::uint32_t>(len);
    while (pseudo >> 16) pseudo = (pseudo & 0xffff) + (pseudo >> 16);
    put16(b, l4 + 16, static_cast<std::uint16_t>(pseudo));
    VnetHeader hdr{};
    hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr.csum_start = static_cast<std::uint16_t>(l4);
    hdr.csum_offset = 16;
    REQUIRE(finish_checksum(b, hdr));
    // A receiver's check: pseudo header + segment (with its checksum) sums to 0xffff.
    std::uint32_t check = sum16(b, 14 + 12, 14 + 20) + IPPROTO_TCP + static_cast<std::uint32_t>(len);
    check = sum16(b, l4, b.size(), check);
    CHECK(check == 0xffff);
  }
  VnetHeader bad{};
  bad.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  bad.csum_start = 100;
  Bytes small(60);
  CHECK_FALSE(finish_checksum(small, bad));
}
