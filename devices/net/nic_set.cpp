#include "net/nic_set.hpp"

#include <fmt/format.h>

#include "net/net_backend.hpp"
#include "net/tap_port.hpp"
#include "net/user_port.hpp"

namespace kxen::net {
namespace {

std::expected<std::vector<std::unique_ptr<HostPort>>, std::string> open_ports(const NetOptions& o, NicConfig& config) {
  std::vector<std::unique_ptr<HostPort>> ports;
  if (o.kind == NetOptions::Kind::user) {
    auto port = UserPort::open(o.hostfwd, o.mtu, config.mac);
    if (!port) return std::unexpected(port.error());
    config.tx_gso = false;
    config.label += " (user)";
    ports.push_back(std::move(*port));
    return ports;
  }
  auto taps = o.kind == NetOptions::Kind::tap ? TapPort::open_tap(o.name, o.queues, o.mtu)
                                              : TapPort::open_on_bridge(o.name, o.queues, o.mtu);
  if (!taps) return std::unexpected(taps.error());
  config.label += o.kind == NetOptions::Kind::tap ? fmt::format(" (tap {})", o.name)
                                                  : fmt::format(" (tap {} on {})", (*taps)[0]->ifname(), o.name);
  for (auto& t : *taps) ports.push_back(std::move(t));
  return ports;
}

}  // namespace

std::expected<std::vector<std::shared_ptr<xenbus::BackendFactory>>, std::string> open_nics(
    const std::vector<NetOptions>& nics, std::string_view guest_name) {
  std::vector<std::shared_ptr<xenbus::BackendFactory>> devices;
  for (unsigned i = 0; i < nics.size(); ++i) {
    const NetOptions& o = nics[i];
    NicConfig config;
    config.label = fmt::format("vif {}", i);
    config.mac = o.mac.value_or(default_mac(guest_name, i));
    config.mtu = o.mtu;
    for (unsigned j = 0; j < i; ++j) {
      if (nics[j].mac && o.mac && *nics[j].mac == *o.mac)
        return std::unexpected(fmt::format("--net: mac={} is given to two NICs", format_mac(*o.mac)));
    }
    auto ports = open_ports(o, config);
    if (!ports) return std::unexpected(ports.error());
    devices.push_back(std::make_shared<NicDevice>(std::move(config), std::move(*ports), i));
  }
  return devices;
}

}  // namespace kxen::net
