// The gdb stub's input side: bytes from a (hostile) client through the packet decoder, each
// packet through the command parser, and each reply framed again. Must never crash or grow
// without bound; a decoded packet re-framed must decode to the same payload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "gdb/command.hpp"
#include "gdb/packet.hpp"

using namespace kxen::gdb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  PacketDecoder decoder;
  std::vector<PacketEvent> events;
  // Split the input into two reads so state carried between feeds is exercised too.
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  decoder.feed(bytes.substr(0, size / 2), events);
  decoder.feed(bytes.substr(size / 2), events);
  for (const auto& event : events) {
    if (event.kind != PacketEvent::Kind::packet) continue;
    if (event.payload.size() > kMaxPacket) std::abort();
    (void)parse_command(event.payload);
    PacketDecoder again;
    std::vector<PacketEvent> round;
    again.feed(frame_packet(event.payload), round);
    if (round.size() != 1 || round[0].kind != PacketEvent::Kind::packet || round[0].payload != event.payload)
      std::abort();
  }
  return 0;
}
