// GDB remote serial protocol framing: `$payload#cs` packets, acks, the 0x03 interrupt byte,
// `}` escapes. Pure (no I/O), so the stub, the unit tests and the fuzzer share it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kxen::gdb {

// Largest payload we accept and advertise (qSupported PacketSize); longer packets are dropped.
inline constexpr std::size_t kMaxPacket = 4096;

struct PacketEvent {
  enum class Kind {
    packet,        // payload holds the unescaped payload, checksum verified (or no-ack mode)
    interrupt,     // a 0x03 byte outside a packet (Ctrl-C)
    ack,           // '+'
    nack,          // '-': resend the last packet
    bad_checksum,  // a packet whose checksum did not match: answer '-'
    overflow,      // a packet longer than the limit: dropped, answer '-'
  };
  Kind kind;
  std::string payload;
};

// Incremental decoder: feed() whatever the socket gave, collect the events it completed.
class PacketDecoder final {
 public:
  explicit PacketDecoder(std::size_t max_payload = kMaxPacket) : max_(max_payload) {}
  void feed(std::string_view bytes, std::vector<PacketEvent>& out);

 private:
  enum class State { idle, payload, escape, checksum_hi, checksum_lo };
  void finish(std::vector<PacketEvent>& out);

  std::size_t max_;
  State state_ = State::idle;
  std::string payload_;
  std::uint8_t sum_ = 0;        // over the raw (escaped) bytes, as sent
  std::uint8_t received_ = 0;   // the two hex digits after '#'
  bool overflowed_ = false;
  bool bad_digit_ = false;
};

std::uint8_t checksum(std::string_view raw);
// `$` + payload with `$ # } *` escaped + `#` + checksum.
std::string frame_packet(std::string_view payload);

}  // namespace kxen::gdb
