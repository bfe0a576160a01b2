// The network backend xen-netfront drives: rx-copy, scatter-gather, checksum and TCP
// segmentation offload both ways, split event channels, one I/O thread per queue
// (../shared/BACKENDS.md has the protocol).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/host_port.hpp"
#include "net/net_queue.hpp"
#include "xenbus/backend.hpp"

namespace kxen::net {

using MacAddress = std::array<std::uint8_t, 6>;
std::string format_mac(const MacAddress& mac);

struct NicConfig {
  std::string label;      // "vif 0 (tap kxtap0)" for logs
  MacAddress mac{};
  unsigned mtu = 0;       // 0: the frontend's default (1500); else written to its `mtu` node
  bool tx_gso = true;     // the host takes GSO frames from the guest (a tap does, user mode not)
};

// A guest NIC: its host ports (one per queue) live as long as kxen, across guest reboots.
class NicDevice final : public xenbus::BackendFactory {
 public:
  NicDevice(NicConfig config, std::vector<std::unique_ptr<HostPort>> ports, std::uint32_t devid)
      : config_(std::move(config)), ports_(std::move(ports)), devid_(devid) {}
  ~NicDevice() override;
  std::string_view type() const override { return "vif"; }
  std::uint32_t devid() const override { return devid_; }
  std::string describe() const override { return config_.label; }
  std::unique_ptr<xenbus::XenBackend> create() override;

 private:
  NicConfig config_;
  std::vector<std::unique_ptr<HostPort>> ports_;
  std::uint32_t devid_;
  NetStats stats_;
};

class NetBackend final : public xenbus::XenBackend {
 public:
  NetBackend(const NicConfig& config, std::vector<HostPort*> ports, std::uint32_t devid, NetStats& stats)
      : config_(config), ports_(std::move(ports)), devid_(devid), stats_(stats) {}
  ~NetBackend() override { disconnect(); }

  std::string_view type() const override { return "vif"; }
  std::uint32_t devid() const override { return devid_; }
  xenbus::NodeList frontend_nodes() const override;
  xenbus::NodeList backend_nodes() const override;
  std::expected<void, std::string> advertise(xenbus::BackendContext& ctx) override;
  std::expected<void, std::string> connect(xenbus::BackendContext& ctx) override;
  void disconnect() override;

 private:
  std::expected<std::unique_ptr<NetQueue>, std::string> connect_queue(xenbus::BackendContext& ctx, const std::string& dir,
                                                                     unsigned index, const RxFeatures& features);

  const NicConfig& config_;
  std::vector<HostPort*> ports_;
  std::uint32_t devid_;
  NetStats& stats_;
  std::vector<std::unique_ptr<NetQueue>> queues_;
  bool split_ = false;  // the frontend gave separate tx and rx event channels
};

}  // namespace kxen::net
