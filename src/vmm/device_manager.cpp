#include "vmm/device_manager.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <new>

#include "xen/xenstore/domain_nodes.hpp"

namespace kxen {

std::expected<std::unique_ptr<DeviceManager>, std::string> DeviceManager::start(
    XenPlatform& platform, GuestMemory& memory, const DeviceManagerConfig& config, std::function<void()> on_escape,
    std::function<void(std::string_view)> on_failure) {
  std::unique_ptr<DeviceManager> manager(new DeviceManager(platform, std::move(on_failure)));
  if (auto r = manager->start_store(memory); !r) return std::unexpected(r.error());
  if (auto r = manager->start_console(memory, config, std::move(on_escape)); !r) return std::unexpected(r.error());
  xenstore::DomainNodes nodes;
  nodes.domid = platform.config().domid;
  nodes.name = config.name;
  nodes.uuid = config.uuid;
  nodes.vcpus = platform.config().vcpus;
  nodes.target_kib = nodes.max_kib = config.memory_kib;
  nodes.store = xenstore::RingNodes{platform.config().store_pfn, manager->store_port_.guest_port};
  nodes.console = xenstore::RingNodes{platform.config().console_pfn, manager->console_->channel()->frontend_port()};
  if (auto r = xenstore::write_domain_nodes(manager->store_, nodes); !r)
    return std::unexpected(fmt::format("xenstore: writing the domain's nodes failed (errno {})", r.error()));
  if (auto r = manager->start_devices(config); !r) return std::unexpected(r.error());
  manager->store_.introduce_domain(nodes.domid);
  return manager;
}

DeviceManager::~DeviceManager() {
  if (bus_) bus_->stop();            // backends stop before the store and guest memory go
  if (console_) console_->disconnect();  // before guest memory (the ring is a view into it) goes away
}

bool DeviceManager::request_shutdown(std::string_view action) {
  const std::string control = fmt::format("/local/domain/{}/control", platform_.config().domid);
  if (auto r = store_.write(control + "/shutdown", action); !r)
    spdlog::error("xenstore: cannot write {}/shutdown (errno {})", control, r.error());
  const auto feature = store_.read(fmt::format("{}/feature-{}", control, action));
  return feature && *feature == "1";
}

std::unique_ptr<PlatformBackendContext> DeviceManager::context(std::string frontend_path, std::string backend_path) {
  return std::make_unique<PlatformBackendContext>(platform_, store_, std::move(frontend_path), std::move(backend_path),
                                                  on_failure_);
}

std::expected<void, std::string> DeviceManager::start_store(GuestMemory& memory) {
  auto page = memory.span(platform_.config().store_pfn << kPageShift, kPageSize);
  if (!page) return std::unexpected(std::string("xenstore: the store page is not in guest RAM"));
  EventChannels& evtchn = platform_.event_channels();
  auto guest_port = evtchn.alloc_unbound_for_guest(0);
  if (!guest_port) return std::unexpected(std::string("evtchn: no port for the XenStore ring"));
  // The guest's notification runs the ring on the notifying vCPU (it never blocks); replies go back the same way.
  auto binding = evtchn.bind_interdomain_from_host(*guest_port, [this](evtchn_port_t) {
    try {
      if (store_ring_ && store_ring_->process()) platform_.event_channels().notify_guest(store_port_.host_port);
    } catch (const std::bad_alloc&) {
      platform_.thread_failed("xenstore", "out of memory");  // not std::terminate on a guest's kick
    }
  });
  if (!binding) return std::unexpected(std::string("evtchn: cannot bind the XenStore ring's port"));
  store_port_ = *binding;
  platform_.set_hvm_param(HVM_PARAM_STORE_EVTCHN, *guest_port);
  auto ring = xenstore::XenStoreRing::create(store_, platform_.config().domid, *page, [this] {
    platform_.event_channels().notify_guest(store_port_.host_port);
  });
  if (!ring) return std::unexpected(ring.error());
  store_ring_ = std::move(*ring);
  return {};
}

std::expected<void, std::string> DeviceManager::start_console(GuestMemory& memory, const DeviceManagerConfig& config,
                                                              std::function<void()> on_escape) {
  auto page = memory.span(platform_.config().console_pfn << kPageShift, kPageSize);
  if (!page) return std::unexpected(std::string("console: the console page is not in guest RAM"));
  auto guest_port = platform_.event_channels().alloc_unbound_for_guest(0);
  if (!guest_port) return std::unexpected(std::string("evtchn: no port for the console"));
  platform_.set_hvm_param(HVM_PARAM_CONSOLE_EVTCHN, *guest_port);
  console::ConsoleCallbacks callbacks;
  callbacks.notify_guest = [this] {
    if (auto* channel = console_->channel()) channel->notify();
  };
  callbacks.on_escape = std::move(on_escape);
  callbacks.on_failure = [this](std::string_view what) { platform_.thread_failed("console", what); };
  auto backend = console::ConsoleBackend::create(config.console, std::move(callbacks));
  if (!backend) return std::unexpected(backend.error());
  console_ = std::make_unique<console::ConsoleDevice>(std::move(*backend), *page, *guest_port);
  const std::string path = fmt::format("/local/domain/{}/console", platform_.config().domid);
  console_context_ = context(path, path);
  return console_->connect(*console_context_);
}

std::expected<void, std::string> DeviceManager::start_devices(const DeviceManagerConfig& config) {
  bus_ = std::make_unique<xenbus::XenBus>(store_, platform_.config().domid,
                                          [this](const std::string& frontend, const std::string& backend) {
                                            return context(frontend, backend);
                                          });
  for (const auto& factory : config.devices) {
    auto backend = factory->create();
    if (!backend) return std::unexpected(fmt::format("{}: cannot create its backend", factory->describe()));
    if (auto r = bus_->add(std::move(backend)); !r) return std::unexpected(r.error());
    spdlog::info("xenbus: {} waits for its frontend", factory->describe());
  }
  bus_->start();
  return {};
}

}  // namespace kxen
