// The PV services kxen provides as dom0: XenStore on its ring and the PV console backend, each
// reached by the guest through a special page and an event channel whose dom0 end kxen holds.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "console/console_backend.hpp"
#include "xen/platform/xen_platform.hpp"
#include "xen/xenstore/ring.hpp"
#include "xen/xenstore/store.hpp"

namespace kxen {

struct PvServicesConfig {
  std::string name = "kxen-guest";
  std::string uuid = "00000000-0000-0000-0000-000000000001";
  std::uint64_t memory_kib = 0;
  console::ConsoleConfig console;
};

// Lock order: none of its own; XenStore and EventChannels keep theirs (see their headers).
class PvServices final {
 public:
  // Allocates both event channels, connects the rings, publishes the HVM params and the
  // domain's XenStore nodes. `on_escape` runs when the console user asks to leave (Ctrl-]).
  static std::expected<std::unique_ptr<PvServices>, std::string> start(XenPlatform& platform, GuestMemory& memory,
                                                                        const PvServicesConfig& config,
                                                                        std::function<void()> on_escape);
  ~PvServices();
  PvServices(const PvServices&) = delete;
  PvServices& operator=(const PvServices&) = delete;

  xenstore::XenStore& store() { return store_; }
  // Asks the guest to shut down ("poweroff", "reboot"...) through control/shutdown, as
  // `xl shutdown` does; false when the guest has not announced it listens (feature-<action>).
  bool request_shutdown(std::string_view action);
  console::ConsoleBackend& console() { return *console_; }

 private:
  explicit PvServices(XenPlatform& platform) : platform_(platform) {}
  std::expected<void, std::string> start_store(GuestMemory& memory);
  std::expected<void, std::string> start_console(GuestMemory& memory, const PvServicesConfig& config,
                                                 std::function<void()> on_escape);
  std::expected<HostBinding, std::string> open_channel(std::uint32_t param, std::function<void()> on_guest);

  XenPlatform& platform_;
  xenstore::XenStore store_;
  std::unique_ptr<xenstore::XenStoreRing> store_ring_;
  std::unique_ptr<console::ConsoleBackend> console_;
  HostBinding store_port_;
  HostBinding console_port_;
};

}  // namespace kxen
