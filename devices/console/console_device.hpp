// The primary PV console as a XenBackend: its ring is the page and port the domain builder set
// up (HVM params), not a XenBus handshake, so the device manager connects it at boot; otherwise
// it binds, kicks and notifies through the same BackendContext as every other backend.
#pragma once

#include <memory>
#include <span>

#include "console/console_backend.hpp"
#include "xenbus/backend.hpp"

namespace kxen::console {

class ConsoleDevice final : public xenbus::XenBackend {
 public:
  // `page`: the console ring page in guest RAM; `port`: the guest's port unbound for dom0.
  ConsoleDevice(std::unique_ptr<ConsoleBackend> backend, std::span<std::byte> page, evtchn_port_t port)
      : backend_(std::move(backend)), page_(page), port_(port) {}
  ~ConsoleDevice() override { disconnect(); }

  std::string_view type() const override { return "console"; }
  std::uint32_t devid() const override { return 0; }
  xenbus::NodeList frontend_nodes() const override { return {}; }
  xenbus::NodeList backend_nodes() const override { return {}; }
  std::expected<void, std::string> advertise(xenbus::BackendContext&) override { return {}; }
  std::expected<void, std::string> connect(xenbus::BackendContext& ctx) override;
  void disconnect() override;

  // console_io and port 0xE9 (vCPU threads).
  ConsoleBackend& backend() { return *backend_; }
  // The guest's kicks arrive here; raising the guest's port goes through it.
  xenbus::EventChannel* channel() { return channel_.get(); }

 private:
  std::unique_ptr<ConsoleBackend> backend_;
  std::span<std::byte> page_;
  evtchn_port_t port_;
  std::unique_ptr<xenbus::EventChannel> channel_;
};

}  // namespace kxen::console
