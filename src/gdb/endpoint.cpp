#include "gdb/endpoint.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace kxen::gdb {

std::expected<Endpoint, std::string> parse_endpoint(std::string_view spec) {
  auto bad = [&](std::string_view why) {
    return std::unexpected(fmt::format("--gdb {}: {}; use tcp:[HOST]:PORT or unix:PATH", spec, why));
  };
  Endpoint e;
  if (spec.starts_with("unix:")) {
    e.kind = Endpoint::Kind::unix_socket;
    e.path = std::string(spec.substr(5));
    if (e.path.empty()) return bad("no socket path");
    if (e.path.size() >= sizeof(sockaddr_un::sun_path)) return bad("socket path too long");
    return e;
  }
  if (!spec.starts_with("tcp:")) return bad("unknown kind");
  const std::string_view rest = spec.substr(4);
  const auto colon = rest.rfind(':');
  const std::string_view port_text = colon == std::string_view::npos ? rest : rest.substr(colon + 1);
  if (colon != std::string_view::npos && colon > 0) e.host = std::string(rest.substr(0, colon));
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return bad("not a port number (1-65535)");
  e.port = static_cast<std::uint16_t>(port);
  return e;
}

std::string describe(const Endpoint& e) {
  return e.kind == Endpoint::Kind::unix_socket ? "unix:" + e.path : fmt::format("tcp:{}:{}", e.host, e.port);
}

namespace {
std::expected<Fd, std::string> listen_tcp(const Endpoint& e) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(e.port);
  if (int rc = getaddrinfo(e.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return std::unexpected(fmt::format("--gdb {}: {}", describe(e), gai_strerror(rc)));
  Fd fd(socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  if (fd.get() >= 0) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool ok = fd.get() >= 0 && bind(fd.get(), found->ai_addr, found->ai_addrlen) == 0 && listen(fd.get(), 1) == 0;
  const int err = errno;
  freeaddrinfo(found);
  if (!ok) return std::unexpected(fmt::format("--gdb {}: cannot listen: {}", describe(e), std::strerror(err)));
  return fd;
}

std::expected<Fd, std::string> listen_unix(const Endpoint& e) {
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, e.path.c_str(), e.path.size() + 1);
  const bool ok = fd.get() >= 0 && bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  listen(fd.get(), 1) == 0;
  if (!ok) return std::unexpected(fmt::format("--gdb {}: cannot listen: {}", describe(e), std::strerror(errno)));
  return fd;
}
}  // namespace

std::expected<Fd, std::string> listen_on(const Endpoint& e) {
  return e.kind == Endpoint::Kind::unix_socket ? listen_unix(e) : listen_tcp(e);
}

}  // namespace kxen::gdb
