#include "net/tap_port.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kxen::net {
namespace {

constexpr unsigned kMaxIov = 1 + kMaxPacketSlots + 2;

std::string open_error(const std::string& ifname, int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
      return "no /dev/net/tun on this host (modprobe tun)";
    case EPERM:
    case EACCES:
      return fmt::format("tap {}: permission denied (create it for this user: ip tuntap add {} mode tap user $USER, "
                         "or run with CAP_NET_ADMIN)", ifname, ifname);
    case EBUSY:
      return fmt::format("tap {}: in use by another program", ifname);
    case EINVAL:
      return fmt::format("tap {}: cannot open it as a tap with these queues (is it a tun, or made without/with "
                         "multi_queue?)", ifname);
    default:
      return fmt::format("tap {}: {}", ifname, std::strerror(err));
  }
}

// An ioctl on an AF_INET socket for interface configuration (MTU, flags, bridge ports).
std::expected<void, std::string> if_ioctl(unsigned long request, ifreq& ifr, const char* what) {
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return std::unexpected(fmt::format("socket: {}", std::strerror(errno)));
  if (::ioctl(sock.get(), request, &ifr) < 0)
    return std::unexpected(fmt::format("{} {}: {}", what, ifr.ifr_name, std::strerror(errno)));
  return {};
}

ifreq named(const std::string& name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return ifr;
}

std::expected<void, std::string> set_mtu(const std::string& ifname, unsigned mtu) {
  ifreq ifr = named(ifname);
  ifr.ifr_mtu = static_cast<int>(mtu);
  return if_ioctl(SIOCSIFMTU, ifr, "set the MTU of");
}

std::expected<void, std::string> bring_up(const std::string& ifname) {
  ifreq ifr = named(ifname);
  if (auto r = if_ioctl(SIOCGIFFLAGS, ifr, "read the flags of"); !r) return r;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  return if_ioctl(SIOCSIFFLAGS, ifr, "bring up");
}

}  // namespace

std::expected<std::vector<std::unique_ptr<TapPort>>, std::string> TapPort::open_queues(const std::string& ifname,
                                                                                       unsigned queues) {
  std::vector<std::unique_ptr<TapPort>> ports;
  std::string name = ifname;
  for (unsigned q = 0; q < queues; ++q) {
    Fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) return std::unexpected(open_error(name, errno));
    ifreq ifr = named(name);
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0));
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return std::unexpected(open_error(name, errno));
    name = ifr.ifr_name;  // the kernel's choice for a template such as kxen%d
    int hdr_size = sizeof(VnetHeader);
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr_size) < 0 || ::ioctl(fd.get(), TUNSETOFFLOAD, 0) < 0)
      return std::unexpected(fmt::format("tap {}: no virtio-net header support: {}", name, std::strerror(errno)));
    ports.push_back(std::unique_ptr<TapPort>(new TapPort(std::move(fd), name, queues > 1)));
  }
  return ports;
}

std::expected<std::vector<std::unique_ptr<TapPort>>, std::string> TapPort::open_tap(const std::string& ifname,
                                                                                    unsigned queues, unsigned mtu) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || ifname.find('%') != std::string::npos)
    return std::unexpected(fmt::format("tap '{}': not an interface name", ifname));
  if (::if_nametoindex(ifname.c_str()) == 0)
    return std::unexpected(fmt::format("tap {} does not exist (create it: ip tuntap add {} mode tap{})", ifname,
                                       ifname, queues > 1 ? " multi_queue" : ""));
  auto ports = open_queues(ifname, queues);
  if (!ports) return ports;
  if (mtu != 0) {
    if (auto r = set_mtu(ifname, mtu); !r) return std::unexpected(r.error());
  }
  return ports;
}

std::expected<std::vector<std::unique_ptr<TapPort>>, std::string> TapPort::open_on_bridge(const std::string& bridge,
                                                                                          unsigned queues, unsigned mtu) {
  const unsigned bridge_index = ::if_nametoindex(bridge.c_str());
  if (bridge.empty() || bridge.size() >= IFNAMSIZ || bridge_index == 0)
    return std::unexpected(fmt::format("bridge {} does not exist (create it: ip link add {} type bridge)", bridge, bridge));
  auto ports = open_queues("kxen%d", queues);
  if (!ports) return ports;
  const std::string tap = (*ports)[0]->ifname();
  if (mtu != 0) {
    if (auto r = set_mtu(tap, mtu); !r) return std::unexpected(r.error());
  }
  ifreq ifr = named(bridge);
  ifr.ifr_ifindex = static_cast<int>(::if_nametoindex(tap.c_str()));
  if (auto r = if_ioctl(SIOCBRADDIF, ifr, "add a port to bridge"); !r) return std::unexpected(r.error());
  if (auto r = bring_up(tap); !r) return std::unexpected(r.error());
  spdlog::info("net: tap {} created on bridge {}", tap, bridge);
  return ports;
}

bool TapPort::send(const VnetHeader& hdr, std::span<const iovec> frame) {
  std::array<iovec, kMaxIov> iov;
  if (frame.size() + 1 > iov.size()) return false;
  iov[0] = iovec{const_cast<VnetHeader*>(&hdr), sizeof hdr};
  std::copy(frame.begin(), frame.end(), iov.begin() + 1);
  const ssize_t n = ::writev(fd_.get(), iov.data(), static_cast<int>(frame.size() + 1));
  return n >= 0;  // the host stack refused it (EINVAL for a bad header, EIO when the tap is down)
}

std::expected<void, std::string> TapPort::set_in_use(bool in_use) {
  if (!multi_queue_ || in_use == attached_) return {};
  ifreq ifr{};
  ifr.ifr_flags = static_cast<short>(in_use ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE);
  if (::ioctl(fd_.get(), TUNSETQUEUE, &ifr) < 0)
    return std::unexpected(fmt::format("tap {}: cannot {} a queue: {}", ifname_, in_use ? "attach" : "detach",
                                       std::strerror(errno)));
  attached_ = in_use;
  return {};
}

RxFeatures TapPort::set_rx_offloads(bool csum, const RxFeatures& wanted) {
  RxFeatures got = wanted;
  got.gso_tcpv4 = csum && wanted.multi_slot && wanted.gso_tcpv4;
  got.gso_tcpv6 = csum && wanted.multi_slot && wanted.gso_tcpv6;
  const unsigned long flags = (csum ? TUN_F_CSUM : 0u) | (got.gso_tcpv4 ? TUN_F_TSO4 : 0u) | (got.gso_tcpv6 ? TUN_F_TSO6 : 0u);
  if (::ioctl(fd_.get(), TUNSETOFFLOAD, flags) < 0) {
    spdlog::warn("net: tap {}: TUNSETOFFLOAD: {}; the host sums and segments instead", ifname_, std::strerror(errno));
    [[maybe_unused]] const int r = ::ioctl(fd_.get(), TUNSETOFFLOAD, 0);
    got.gso_tcpv4 = got.gso_tcpv6 = false;
  }
  return got;
}

void TapPort::add_polls(std::vector<pollfd>& fds, int&, bool want_rx) {
  if (want_rx) fds.push_back({fd_.get(), POLLIN, 0});
}

bool TapPort::service(std::span<const pollfd> fds, Receiver& rx, unsigned budget) {
  if (fds.empty() || fds[0].revents == 0) return true;
  std::array<iovec, kMaxIov> iov;
  for (; budget > 0; --budget) {
    if (!rx.ready()) return true;  // the frontend's next rx kick brings buffers
    const auto pages = rx.buffers();
    VnetHeader hdr{};
    iov[0] = iovec{&hdr, sizeof hdr};
    const std::size_t count = std::min(pages.size(), iov.size() - 1);
    std::copy_n(pages.begin(), count, iov.begin() + 1);
    const ssize_t n = ::readv(fd_.get(), iov.data(), static_cast<int>(count + 1));
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) spdlog::warn("net: tap {}: read: {}", ifname_, std::strerror(errno));
      return true;
    }
    if (static_cast<std::size_t>(n) <= sizeof hdr) continue;
    rx.received(hdr, static_cast<std::size_t>(n) - sizeof hdr);
  }
  return false;
}

}  // namespace kxen::net
