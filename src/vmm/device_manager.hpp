// The devices kxen serves a guest as its dom0: XenStore on its ring, the PV console, and every
// XenBus backend of the VM description (disks, NICs), each on the device contract of
// devices/xenbus/ and reaching the core only through its BackendContext.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "console/console_device.hpp"
#include "vmm/backend_context.hpp"
#include "xen/platform/xen_platform.hpp"
#include "xen/xenstore/ring.hpp"
#include "xen/xenstore/store.hpp"
#include "xenbus/xenbus.hpp"

namespace kxen {

struct DeviceManagerConfig {
  std::string name = "kxen-guest";
  std::string uuid = "00000000-0000-0000-0000-000000000001";
  std::uint64_t memory_kib = 0;
  console::ConsoleConfig console;
  std::vector<std::shared_ptr<xenbus::BackendFactory>> devices;  // XenBus devices, in order
};

// Lock order: none of its own; XenStore, EventChannels and XenBus keep theirs (see their headers).
// Members are destroyed backends first, XenStore last: backends may touch it while stopping.
class DeviceManager final {
 public:
  // Allocates the store and console channels, publishes the HVM params and the domain's nodes,
  // adds every device and starts serving. `on_escape` runs when the console user presses Ctrl-];
  // `on_failure` when a backend thread cannot go on.
  static std::expected<std::unique_ptr<DeviceManager>, std::string> start(
      XenPlatform& platform, GuestMemory& memory, const DeviceManagerConfig& config, std::function<void()> on_escape,
      std::function<void(std::string_view)> on_failure);
  ~DeviceManager();
  DeviceManager(const DeviceManager&) = delete;
  DeviceManager& operator=(const DeviceManager&) = delete;

  xenstore::XenStore& store() { return store_; }
  // Asks the guest to shut down ("poweroff", "reboot"...) through control/shutdown, as
  // `xl shutdown` does; false when the guest has not announced it listens (feature-<action>).
  bool request_shutdown(std::string_view action);
  console::ConsoleBackend& console() { return console_->backend(); }
  xenbus::XenBus& bus() { return *bus_; }

 private:
  DeviceManager(XenPlatform& platform, std::function<void(std::string_view)> on_failure)
      : platform_(platform), on_failure_(std::move(on_failure)) {}
  std::expected<void, std::string> start_store(GuestMemory& memory);
  std::expected<void, std::string> start_console(GuestMemory& memory, const DeviceManagerConfig& config,
                                                 std::function<void()> on_escape);
  std::expected<void, std::string> start_devices(const DeviceManagerConfig& config);
  std::unique_ptr<PlatformBackendContext> context(std::string frontend_path, std::string backend_path);

  XenPlatform& platform_;
  std::function<void(std::string_view)> on_failure_;
  xenstore::XenStore store_;
  std::unique_ptr<xenstore::XenStoreRing> store_ring_;
  HostBinding store_port_;
  std::unique_ptr<PlatformBackendContext> console_context_;
  std::unique_ptr<console::ConsoleDevice> console_;
  std::unique_ptr<xenbus::XenBus> bus_;
};

}  // namespace kxen
