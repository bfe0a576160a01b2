// The GDB packet layer: framing, checksums, escapes, acks, interrupts, limits.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "gdb/packet.hpp"

using namespace kxen::gdb;
using Kind = PacketEvent::Kind;

namespace {
std::vector<PacketEvent> decode(std::string_view bytes, std::size_t max = kMaxPacket) {
  PacketDecoder decoder(max);
  std::vector<PacketEvent> events;
  decoder.feed(bytes, events);
  return events;
}
}  // namespace

TEST_CASE("frame_packet adds the checksum and escapes the special bytes", "[gdb][packet]") {
  CHECK(frame_packet("OK") == "$OK#9a");
  CHECK(frame_packet("") == "$#00");
  CHECK(frame_packet("a#b") == "$a}\x03" "b#" + fmt::format("{:02x}", checksum("a}\x03" "b")));
  CHECK(frame_packet("*") == "$}\x0a#" + fmt::format("{:02x}", checksum("}\x0a")));
}

TEST_CASE("a framed packet decodes back to its payload", "[gdb][packet]") {
  const std::vector<std::string> payloads{"qSupported:multiprocess+", "X100,2:}$", "m0,4", std::string("\x00\xff", 2)};
  for (const auto& payload : payloads) {
    auto events = decode(frame_packet(payload));
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == Kind::packet);
    CHECK(events[0].payload == payload);
  }
}

TEST_CASE("acks, nacks and Ctrl-C between packets, noise ignored", "[gdb][packet]") {
  auto events = decode("+x\x03-$g#67");
  REQUIRE(events.size() == 4);
  CHECK(events[0].kind == Kind::ack);
  CHECK(events[1].kind == Kind::interrupt);
  CHECK(events[2].kind == Kind::nack);
  CHECK(events[3].kind == Kind::packet);
  CHECK(events[3].payload == "g");
}

TEST_CASE("a bad checksum or a non-hex checksum is reported, not delivered", "[gdb][packet]") {
  auto events = decode("$g#00$g#zz");
  REQUIRE(events.size() == 2);
  CHECK(events[0].kind == Kind::bad_checksum);
  CHECK(events[1].kind == Kind::bad_checksum);
}

TEST_CASE("a packet split over many reads decodes once", "[gdb][packet]") {
  PacketDecoder decoder;
  std::vector<PacketEvent> events;
  for (char c : frame_packet("vCont;c")) decoder.feed(std::string_view(&c, 1), events);
  REQUIRE(events.size() == 1);
  CHECK(events[0].payload == "vCont;c");
}

TEST_CASE("an overlong packet is dropped as overflow and the decoder recovers", "[gdb][packet]") {
  const std::string big = frame_packet(std::string(100, 'a'));
  auto events = decode(big + frame_packet("g"), 16);
  REQUIRE(events.size() == 2);
  CHECK(events[0].kind == Kind::overflow);
  CHECK(events[1].kind == Kind::packet);
}
