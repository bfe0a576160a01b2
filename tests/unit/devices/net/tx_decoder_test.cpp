// The transmit ring's decoding: slots fed one by one into whole packets, extras, GSO, and what
// a hostile frontend's slots turn into (drops owe every response; fatal ones disable the ring).
#include <catch2/catch.hpp>

#include <cstring>

#include "net/tx_decoder.hpp"

using namespace kxen::net;

namespace {

netif_tx_request_t slot(grant_ref_t gref, std::uint16_t offset, std::uint16_t size, std::uint16_t id, std::uint16_t flags = 0) {
  return netif_tx_request_t{gref, offset, flags, id, size};
}

netif_tx_request_t gso_extra(std::uint8_t type, std::uint16_t mss, std::uint8_t flags = 0) {
  netif_extra_info_t e{};
  e.type = XEN_NETIF_EXTRA_TYPE_GSO;
  e.flags = flags;
  e.u.gso.type = type;
  e.u.gso.size = mss;
  netif_tx_request_t raw{};
  std::memcpy(&raw, &e, sizeof e);
  return raw;
}

netif_tx_request_t extra_of_type(std::uint8_t type, std::uint8_t flags = 0) {
  netif_extra_info_t e{};
  e.type = type;
  e.flags = flags;
  netif_tx_request_t raw{};
  std::memcpy(&raw, &e, sizeof e);
  return raw;
}

}  // namespace

TEST_CASE("tx decoder: a single-slot packet", "[net]") {
  TxDecoder d;
  REQUIRE(d.feed(slot(5, 100, 60, 7, NETTXF_data_validated)) == TxVerdict::kPacket);
  const TxPacket p = d.take();
  REQUIRE(p.fragments.size() == 1);
  CHECK(p.fragments[0].gref == 5);
  CHECK(p.fragments[0].offset == 100);
  CHECK(p.fragments[0].size == 60);
  CHECK(p.length == 60);
  CHECK(p.flags == NETTXF_data_validated);
  CHECK_FALSE(p.gso);
  REQUIRE(p.responses.size() == 1);
  CHECK(p.responses[0] == std::optional<std::uint16_t>(7));
  CHECK_FALSE(d.in_packet());
}

TEST_CASE("tx decoder: fragments; the first slot's own size is the total minus the others", "[net]") {
  TxDecoder d;
  CHECK(d.feed(slot(1, 0, 9000, 1, NETTXF_more_data | NETTXF_csum_blank)) == TxVerdict::kNeedMore);
  CHECK(d.in_packet());
  CHECK(d.feed(slot(2, 0, 4096, 2, NETTXF_more_data)) == TxVerdict::kNeedMore);
  REQUIRE(d.feed(slot(3, 0, 3000, 3)) == TxVerdict::kPacket);
  const TxPacket p = d.take();
  REQUIRE(p.fragments.size() == 3);
  CHECK(p.fragments[0].size == 9000 - 4096 - 3000);
  CHECK(p.fragments[1].size == 4096);
  CHECK(p.fragments[2].size == 3000);
  CHECK(p.responses.size() == 3);
}

TEST_CASE("tx decoder: a GSO extra gets a NULL response in its slot", "[net]") {
  TxDecoder d;
  CHECK(d.feed(slot(1, 0, 5000, 11, NETTXF_more_data | NETTXF_extra_info | NETTXF_csum_blank)) == TxVerdict::kNeedMore);
  CHECK(d.feed(gso_extra(XEN_NETIF_GSO_TYPE_TCPV4, 1448)) == TxVerdict::kNeedMore);
  REQUIRE(d.feed(slot(2, 0, 4000, 12)) == TxVerdict::kPacket);
  const TxPacket p = d.take();
  REQUIRE(p.gso);
  CHECK(p.gso->type == XEN_NETIF_GSO_TYPE_TCPV4);
  CHECK(p.gso->mss == 1448);
  REQUIRE(p.responses.size() == 3);
  CHECK(p.responses[0] == std::optional<std::uint16_t>(11));
  CHECK_FALSE(p.responses[1]);
  CHECK(p.responses[2] == std::optional<std::uint16_t>(12));
  CHECK(make_tx_response(p.responses[1], NETIF_RSP_OKAY).status == NETIF_RSP_NULL);
  CHECK(make_tx_response(p.responses[0], NETIF_RSP_OKAY).status == NETIF_RSP_OKAY);
  CHECK(make_tx_response(p.responses[0], NETIF_RSP_OKAY).id == 11);
}

TEST_CASE("tx decoder: chained extras; multicast ones are ignored", "[net]") {
  TxDecoder d;
  CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_extra_info | NETTXF_csum_blank)) == TxVerdict::kNeedMore);
  CHECK(d.feed(extra_of_type(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_FLAG_MORE)) == TxVerdict::kNeedMore);
  REQUIRE(d.feed(gso_extra(XEN_NETIF_GSO_TYPE_TCPV6, 1400)) == TxVerdict::kPacket);
  const TxPacket p = d.take();
  CHECK(p.gso->type == XEN_NETIF_GSO_TYPE_TCPV6);
  CHECK(p.responses.size() == 3);
}

TEST_CASE("tx decoder: hostile packets are dropped with every response owed", "[net]") {
  TxDecoder d;
  SECTION("shorter than an Ethernet header") {
    REQUIRE(d.feed(slot(1, 0, 10, 1)) == TxVerdict::kDrop);
    CHECK(d.take().responses.size() == 1);
  }
  SECTION("fragments larger than the packet") {
    CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_more_data)) == TxVerdict::kNeedMore);
    REQUIRE(d.feed(slot(2, 0, 200, 2)) == TxVerdict::kDrop);
    CHECK(d.take().responses.size() == 2);
  }
  SECTION("a slot crossing its page") {
    REQUIRE(d.feed(slot(1, 4000, 200, 1)) == TxVerdict::kDrop);
  }
  SECTION("a first slot crossing its page once the fragments are subtracted") {
    CHECK(d.feed(slot(1, 100, 5000, 1, NETTXF_more_data)) == TxVerdict::kNeedMore);
    REQUIRE(d.feed(slot(2, 0, 100, 2)) == TxVerdict::kDrop);
  }
  SECTION("GSO with an MSS of 0") {
    CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_extra_info | NETTXF_csum_blank)) == TxVerdict::kNeedMore);
    REQUIRE(d.feed(gso_extra(XEN_NETIF_GSO_TYPE_TCPV4, 0)) == TxVerdict::kDrop);
    CHECK(d.take().responses.size() == 2);
  }
  SECTION("GSO with an MSS of 65535, the host's GSO_BY_FRAGS") {
    CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_extra_info | NETTXF_csum_blank)) == TxVerdict::kNeedMore);
    REQUIRE(d.feed(gso_extra(XEN_NETIF_GSO_TYPE_TCPV6, 0xFFFF)) == TxVerdict::kDrop);
    CHECK(d.take().responses.size() == 2);
  }
  SECTION("GSO of an unknown type") {
    CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_extra_info | NETTXF_csum_blank)) == TxVerdict::kNeedMore);
    REQUIRE(d.feed(gso_extra(7, 1400)) == TxVerdict::kDrop);
  }
  SECTION("GSO without a blank checksum") {
    CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_extra_info)) == TxVerdict::kNeedMore);
    REQUIRE(d.feed(gso_extra(XEN_NETIF_GSO_TYPE_TCPV4, 1400)) == TxVerdict::kDrop);
  }
  SECTION("19 data slots: dropped; the decoder is ready for the next packet") {
    CHECK(d.feed(slot(1, 0, 19 * 100, 0, NETTXF_more_data)) == TxVerdict::kNeedMore);
    for (std::uint16_t i = 1; i < 18; ++i) CHECK(d.feed(slot(1, 0, 100, i, NETTXF_more_data)) == TxVerdict::kNeedMore);
    REQUIRE(d.feed(slot(1, 0, 100, 18)) == TxVerdict::kDrop);
    CHECK(d.take().responses.size() == 19);
    CHECK_FALSE(d.in_packet());
  }
  CHECK_FALSE(d.reason().empty());
  d.take();
  CHECK(d.feed(slot(1, 0, 60, 30)) == TxVerdict::kPacket);
  CHECK(d.reason().empty());
}

TEST_CASE("tx decoder: 18 data slots are served", "[net]") {
  TxDecoder d;
  CHECK(d.feed(slot(1, 0, 18 * 100, 0, NETTXF_more_data)) == TxVerdict::kNeedMore);
  for (std::uint16_t i = 1; i < 17; ++i) CHECK(d.feed(slot(1, 0, 100, i, NETTXF_more_data)) == TxVerdict::kNeedMore);
  REQUIRE(d.feed(slot(1, 0, 100, 17)) == TxVerdict::kPacket);
  CHECK(d.take().fragments.size() == 18);
}

TEST_CASE("tx decoder: fatal frontends", "[net]") {
  TxDecoder d;
  SECTION("an extra of type NONE") {
    CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_extra_info)) == TxVerdict::kNeedMore);
    CHECK(d.feed(extra_of_type(XEN_NETIF_EXTRA_TYPE_NONE)) == TxVerdict::kFatal);
  }
  SECTION("an extra of an unknown type") {
    CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_extra_info)) == TxVerdict::kNeedMore);
    CHECK(d.feed(extra_of_type(XEN_NETIF_EXTRA_TYPE_MAX)) == TxVerdict::kFatal);
  }
  SECTION("an endless chain of extras") {
    CHECK(d.feed(slot(1, 0, 100, 1, NETTXF_extra_info)) == TxVerdict::kNeedMore);
    TxVerdict v = TxVerdict::kNeedMore;
    for (int i = 0; i < 10 && v == TxVerdict::kNeedMore; ++i)
      v = d.feed(extra_of_type(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_FLAG_MORE));
    CHECK(v == TxVerdict::kFatal);
  }
  SECTION("an endless chain of fragments") {
    CHECK(d.feed(slot(1, 0, 100, 0, NETTXF_more_data)) == TxVerdict::kNeedMore);
    TxVerdict v = TxVerdict::kNeedMore;
    for (int i = 0; i < 100 && v == TxVerdict::kNeedMore; ++i) v = d.feed(slot(1, 0, 1, 1, NETTXF_more_data));
    CHECK(v == TxVerdict::kFatal);
  }
  CHECK_FALSE(d.in_packet());
}
