// Where the gdb stub listens: `tcp:[HOST]:PORT` (host 127.0.0.1 by default) or `unix:PATH`.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "kvm/fd.hpp"

namespace kxen::gdb {

struct Endpoint {
  enum class Kind { tcp, unix_socket } kind = Kind::tcp;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string path;
};

// The --gdb value parsed; the error is one line naming the flag.
std::expected<Endpoint, std::string> parse_endpoint(std::string_view spec);
// A listening socket, or one line why not (port in use, bad host...).
std::expected<Fd, std::string> listen_on(const Endpoint& endpoint);
std::string describe(const Endpoint& endpoint);

}  // namespace kxen::gdb
