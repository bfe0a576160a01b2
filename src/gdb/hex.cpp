#include "gdb/hex.hpp"

namespace kxen::gdb {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::uint64_t> parse_hex(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    const int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    value = (value << 4) | static_cast<std::uint64_t>(d);
  }
  return value;
}

std::optional<std::vector<std::byte>> decode_hex_bytes(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::vector<std::byte> bytes;
  bytes.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_digit(text[i]);
    const int lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes.push_back(static_cast<std::byte>((hi << 4) | lo));
  }
  return bytes;
}

std::string encode_hex_bytes(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(bytes.size() * 2);
  for (std::byte b : bytes) {
    const auto v = static_cast<unsigned>(b);
    text.push_back(kDigits[v >> 4]);
    text.push_back(kDigits[v & 0xf]);
  }
  return text;
}

std::string encode_hex_text(std::string_view text) { return encode_hex_bytes(std::as_bytes(std::span(text))); }

}  // namespace kxen::gdb
