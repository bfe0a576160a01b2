#include "net/net_options.hpp"

#include <charconv>

#include <fmt/format.h>

namespace kxen::net {
namespace {

std::optional<unsigned> parse_uint(std::string_view text, unsigned min, unsigned max) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || value < min || value > max)
    return std::nullopt;
  return value;
}

// "tcp::8080-:80" (the host address may be given empty only, as QEMU's short form).
std::optional<HostForward> parse_hostfwd(std::string_view text) {
  if (!text.starts_with("tcp::")) return std::nullopt;
  text.remove_prefix(5);
  const auto dash = text.find("-:");
  if (dash == std::string_view::npos) return std::nullopt;
  const auto host = parse_uint(text.substr(0, dash), 1, 65535);
  const auto guest = parse_uint(text.substr(dash + 2), 1, 65535);
  if (!host || !guest) return std::nullopt;
  return HostForward{static_cast<std::uint16_t>(*host), static_cast<std::uint16_t>(*guest)};
}

std::expected<void, std::string> apply(NetOptions& o, std::string_view spec, std::string_view key, std::string_view value) {
  if (key == "mac") {
    o.mac = parse_mac(value);
    if (!o.mac) return std::unexpected(fmt::format("--net {}: mac={} is not a unicast MAC such as 52:54:00:12:34:56", spec, value));
  } else if (key == "queues") {
    auto q = parse_uint(value, 1, kMaxNetQueues);
    if (!q) return std::unexpected(fmt::format("--net {}: queues={} is not in 1..{}", spec, value, kMaxNetQueues));
    o.queues = *q;
  } else if (key == "mtu") {
    auto m = parse_uint(value, kMinMtu, kMaxMtu);
    if (!m) return std::unexpected(fmt::format("--net {}: mtu={} is not in {}..{}", spec, value, kMinMtu, kMaxMtu));
    o.mtu = *m;
  } else if (key == "hostfwd" && o.kind == NetOptions::Kind::user) {
    auto f = parse_hostfwd(value);
    if (!f) return std::unexpected(fmt::format("--net {}: hostfwd={} is not tcp::HOSTPORT-:GUESTPORT", spec, value));
    o.hostfwd.push_back(*f);
  } else {
    return std::unexpected(fmt::format("--net {}: unknown key '{}' (tap=/bridge=: mac, queues, mtu; user: mac, mtu, hostfwd)", spec, key));
  }
  return {};
}

}  // namespace

std::expected<NetOptions, std::string> parse_net_option(std::string_view spec) {
  NetOptions o;
  std::string_view rest = spec;
  bool first = true;
  while (!rest.empty() || first) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (first) {
      first = false;
      if (key == "user" && eq == std::string_view::npos) {
        o.kind = NetOptions::Kind::user;
      } else if ((key == "tap" || key == "bridge") && !value.empty()) {
        o.kind = key == "tap" ? NetOptions::Kind::tap : NetOptions::Kind::bridge;
        o.name = std::string(value);
      } else {
        return std::unexpected(fmt::format("--net {}: start with tap=IFNAME, bridge=BRNAME or user", spec));
      }
      continue;
    }
    if (eq == std::string_view::npos || value.empty())
      return std::unexpected(fmt::format("--net {}: '{}' is not key=value", spec, item));
    if (auto r = apply(o, spec, key, value); !r) return std::unexpected(r.error());
  }
  if (o.kind == NetOptions::Kind::user && o.queues != 1)
    return std::unexpected(fmt::format("--net {}: user mode has one queue", spec));
  return o;
}

std::optional<std::array<std::uint8_t, 6>> parse_mac(std::string_view text) {
  std::array<std::uint8_t, 6> mac{};
  if (text.size() != 17) return std::nullopt;
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    const char* p = text.data() + i * 3;
    const auto [end, ec] = std::from_chars(p, p + 2, mac[i], 16);
    if (ec != std::errc{} || end != p + 2) return std::nullopt;
  }
  if (mac[0] & 1) return std::nullopt;  // multicast
  if (mac == std::array<std::uint8_t, 6>{}) return std::nullopt;
  return mac;
}

std::array<std::uint8_t, 6> default_mac(std::string_view guest_name, unsigned index) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the name, then the index
  auto mix = [&h](std::uint8_t b) { h = (h ^ b) * 0x100000001b3ull; };
  for (char c : guest_name) mix(static_cast<std::uint8_t>(c));
  for (int i = 0; i < 4; ++i) mix(static_cast<std::uint8_t>(index >> (8 * i)));
  std::array<std::uint8_t, 6> mac{};
  for (std::size_t i = 0; i < 6; ++i) mac[i] = static_cast<std::uint8_t>(h >> (8 * i));
  mac[0] = static_cast<std::uint8_t>((mac[0] & 0xfc) | 0x02);  // locally administered, unicast
  return mac;
}

}  // namespace kxen::net
