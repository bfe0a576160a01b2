// `--net` parsing and default MACs.
#include <catch2/catch.hpp>

#include "net/net_options.hpp"

using namespace kxen::net;

TEST_CASE("net options: tap, bridge and user", "[net]") {
  auto o = parse_net_option("tap=kxtap0");
  REQUIRE(o);
  CHECK(o->kind == NetOptions::Kind::tap);
  CHECK(o->name == "kxtap0");
  CHECK(o->queues == 1);
  CHECK(o->mtu == 0);
  CHECK_FALSE(o->mac);

  o = parse_net_option("bridge=br0,mac=52:54:00:AB:cd:01,queues=4,mtu=9000");
  REQUIRE(o);
  CHECK(o->kind == NetOptions::Kind::bridge);
  CHECK(o->name == "br0");
  CHECK(*o->mac == std::array<std::uint8_t, 6>{0x52, 0x54, 0x00, 0xab, 0xcd, 0x01});
  CHECK(o->queues == 4);
  CHECK(o->mtu == 9000);

  o = parse_net_option("user,hostfwd=tcp::8080-:80,hostfwd=tcp::2222-:22");
  REQUIRE(o);
  CHECK(o->kind == NetOptions::Kind::user);
  REQUIRE(o->hostfwd.size() == 2);
  CHECK(o->hostfwd[0] == HostForward{8080, 80});
  CHECK(o->hostfwd[1] == HostForward{2222, 22});
}

TEST_CASE("net options: mistakes are one line each", "[net]") {
  for (const char* bad : {"", "tap", "tap=", "eth0", "user=x", "tap=t,mac=01:00:00:00:00:01", "tap=t,mac=zz",
                          "tap=t,queues=0", "tap=t,queues=17", "tap=t,mtu=10", "tap=t,mtu=70000", "tap=t,colour=red",
                          "tap=t,hostfwd=tcp::1-:2", "user,hostfwd=udp::1-:2", "user,hostfwd=tcp::0-:2",
                          "user,queues=2", "tap=t,,mtu=1500", "tap=t,mtu"}) {
    INFO(bad);
    const auto o = parse_net_option(bad);
    REQUIRE_FALSE(o);
    CHECK(o.error().find('\n') == std::string::npos);
    CHECK(o.error().starts_with("--net"));
  }
}

TEST_CASE("net options: MACs", "[net]") {
  CHECK(parse_mac("02:00:00:00:00:01"));
  CHECK_FALSE(parse_mac("02:00:00:00:00"));
  CHECK_FALSE(parse_mac("02-00-00-00-00-01"));
  CHECK_FALSE(parse_mac("00:00:00:00:00:00"));
  CHECK_FALSE(parse_mac("ff:ff:ff:ff:ff:ff"));
  const auto a = default_mac("guest", 0);
  CHECK(a == default_mac("guest", 0));
  CHECK(a != default_mac("guest", 1));
  CHECK(a != default_mac("other", 0));
  CHECK((a[0] & 0x03) == 0x02);  // locally administered, unicast
}
