// Hex helpers of the GDB remote protocol: numbers, byte strings, little-endian register values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kxen::gdb {

// 0..15 for a hex digit, -1 otherwise.
int hex_digit(char c);
// A whole string of hex digits (1..16 of them) as a number; nullopt if empty, too long or not hex.
std::optional<std::uint64_t> parse_hex(std::string_view text);
// Pairs of hex digits as bytes; nullopt for an odd length or a non-hex digit.
std::optional<std::vector<std::byte>> decode_hex_bytes(std::string_view text);
std::string encode_hex_bytes(std::span<const std::byte> bytes);
std::string encode_hex_text(std::string_view text);

}  // namespace kxen::gdb
