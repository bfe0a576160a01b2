#include "gdb/packet.hpp"

#include <fmt/format.h>

#include "gdb/hex.hpp"

namespace kxen::gdb {

std::uint8_t checksum(std::string_view raw) {
  std::uint8_t sum = 0;
  for (char c : raw) sum = static_cast<std::uint8_t>(sum + static_cast<std::uint8_t>(c));
  return sum;
}

std::string frame_packet(std::string_view payload) {
  std::string raw;
  raw.reserve(payload.size() + 8);
  for (char c : payload) {
    // '*' too: gdb would read it as run-length encoding.
    if (c == '$' || c == '#' || c == '}' || c == '*') {
      raw.push_back('}');
      raw.push_back(static_cast<char>(c ^ 0x20));
    } else {
      raw.push_back(c);
    }
  }
  return fmt::format("${}#{:02x}", raw, checksum(raw));
}

void PacketDecoder::finish(std::vector<PacketEvent>& out) {
  using Kind = PacketEvent::Kind;
  if (overflowed_) out.push_back({Kind::overflow, {}});
  else if (bad_digit_ || received_ != sum_) out.push_back({Kind::bad_checksum, {}});
  else out.push_back({Kind::packet, std::move(payload_)});
  payload_.clear();
  state_ = State::idle;
}

void PacketDecoder::feed(std::string_view bytes, std::vector<PacketEvent>& out) {
  using Kind = PacketEvent::Kind;
  for (char c : bytes) {
    const auto byte = static_cast<std::uint8_t>(c);
    switch (state_) {
      case State::idle:
        if (c == '$') {
          state_ = State::payload;
          payload_.clear();
          sum_ = 0;
          overflowed_ = bad_digit_ = false;
        } else if (byte == 0x03) {
          out.push_back({Kind::interrupt, {}});
        } else if (c == '+') {
          out.push_back({Kind::ack, {}});
        } else if (c == '-') {
          out.push_back({Kind::nack, {}});
        }  // anything else between packets is line noise: ignored
        break;
      case State::payload:
      case State::escape:
        if (c == '#' && state_ == State::payload) {
          state_ = State::checksum_hi;
          break;
        }
        sum_ = static_cast<std::uint8_t>(sum_ + byte);
        if (state_ == State::payload && c == '}') {
          state_ = State::escape;
          break;
        }
        if (payload_.size() >= max_) overflowed_ = true;  // keep counting to the '#', store nothing
        else payload_.push_back(state_ == State::escape ? static_cast<char>(c ^ 0x20) : c);
        state_ = State::payload;
        break;
      case State::checksum_hi:
      case State::checksum_lo: {
        const int digit = hex_digit(c);
        if (digit < 0) bad_digit_ = true;
        if (state_ == State::checksum_hi) {
          received_ = static_cast<std::uint8_t>((digit < 0 ? 0 : digit) << 4);
          state_ = State::checksum_lo;
        } else {
          received_ = static_cast<std::uint8_t>(received_ | (digit < 0 ? 0 : digit));
          finish(out);
        }
        break;
      }
    }
  }
}

}  // namespace kxen::gdb
