// What the user asked for one guest NIC: `--net tap=IFNAME|bridge=BRNAME|user[,key=value...]`
// parsed and validated, and the default MAC of a NIC.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kxen::net {

inline constexpr unsigned kMaxNetQueues = 16;
inline constexpr unsigned kMinMtu = 68;
inline constexpr unsigned kMaxMtu = 65535 - 14;

struct HostForward {
  std::uint16_t host_port = 0;
  std::uint16_t guest_port = 0;
  friend bool operator==(const HostForward&, const HostForward&) = default;
};

struct NetOptions {
  enum class Kind { tap, bridge, user };
  Kind kind = Kind::tap;
  std::string name;  // the tap or bridge; empty for user
  std::optional<std::array<std::uint8_t, 6>> mac;
  unsigned queues = 1;
  unsigned mtu = 0;  // 0: leave the tap's and the guest's default
  std::vector<HostForward> hostfwd;  // user mode only
};

// Parses `tap=IFNAME[,mac=52:54:00:12:34:56][,queues=N][,mtu=N]`, `bridge=BRNAME[,...]` or
// `user[,hostfwd=tcp::HOSTPORT-:GUESTPORT]...`. Errors are one line.
std::expected<NetOptions, std::string> parse_net_option(std::string_view spec);

// "52:54:00:12:34:56": a unicast MAC, or nullopt.
std::optional<std::array<std::uint8_t, 6>> parse_mac(std::string_view text);

// A locally administered unicast MAC that stays the same for one guest name and NIC index.
std::array<std::uint8_t, 6> default_mac(std::string_view guest_name, unsigned index);

}  // namespace kxen::net
