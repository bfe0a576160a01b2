// --gdb's value: tcp:[HOST]:PORT with 127.0.0.1 by default, unix:PATH, one-line errors; a port
// in use is one line too.
#include <catch2/catch.hpp>

#include "gdb/endpoint.hpp"

using namespace kxen::gdb;

TEST_CASE("gdb endpoints parse with a default host", "[gdb][endpoint]") {
  auto a = parse_endpoint("tcp::1234");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 1234);
  auto b = parse_endpoint("tcp:0.0.0.0:9");
  REQUIRE(b);
  CHECK(b->host == "0.0.0.0");
  CHECK(parse_endpoint("tcp:1234")->port == 1234);
  auto u = parse_endpoint("unix:/tmp/kxen.sock");
  REQUIRE(u);
  CHECK(u->kind == Endpoint::Kind::unix_socket);
  CHECK(u->path == "/tmp/kxen.sock");
  for (auto bad : {"tcp::0", "tcp::65536", "tcp::12x", "tcp:", "unix:", "udp::1", "1234"}) {
    auto r = parse_endpoint(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().starts_with("--gdb "));
    CHECK(r.error().find('\n') == std::string::npos);
  }
}

TEST_CASE("a port in use is refused with one line", "[gdb][endpoint]") {
  auto first = listen_on(*parse_endpoint("tcp::47123"));
  if (!first) {
    WARN("port 47123 is busy on this machine: " << first.error());
    return;
  }
  auto second = listen_on(*parse_endpoint("tcp::47123"));
  REQUIRE_FALSE(second);
  CHECK(second.error().find("cannot listen: Address already in use") != std::string::npos);
}
