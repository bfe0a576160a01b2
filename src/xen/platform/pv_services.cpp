#include "xen/platform/pv_services.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <new>

#include "xen/xenstore/domain_nodes.hpp"

namespace kxen {

std::expected<std::unique_ptr<PvServices>, std::string> PvServices::start(XenPlatform& platform,
                                                                          GuestMemory& memory,
                                                                          const PvServicesConfig& config,
                                                                          std::function<void()> on_escape) {
  std::unique_ptr<PvServices> services(new PvServices(platform));
  if (auto r = services->start_store(memory); !r) return std::unexpected(r.error());
  if (auto r = services->start_console(memory, config, std::move(on_escape)); !r) return std::unexpected(r.error());
  xenstore::DomainNodes nodes;
  nodes.domid = platform.config().domid;
  nodes.name = config.name;
  nodes.uuid = config.uuid;
  nodes.vcpus = platform.config().vcpus;
  nodes.target_kib = nodes.max_kib = config.memory_kib;
  nodes.store = xenstore::RingNodes{platform.config().store_pfn, services->store_port_.guest_port};
  nodes.console = xenstore::RingNodes{platform.config().console_pfn, services->console_port_.guest_port};
  if (auto r = xenstore::write_domain_nodes(services->store_, nodes); !r)
    return std::unexpected(fmt::format("xenstore: writing the domain's nodes failed (errno {})", r.error()));
  services->store_.introduce_domain(nodes.domid);
  return services;
}

bool PvServices::request_shutdown(std::string_view action) {
  const std::string control = fmt::format("/local/domain/{}/control", platform_.config().domid);
  if (auto r = store_.write(control + "/shutdown", action); !r)
    spdlog::error("xenstore: cannot write {}/shutdown (errno {})", control, r.error());
  const auto feature = store_.read(fmt::format("{}/feature-{}", control, action));
  return feature && *feature == "1";
}

PvServices::~PvServices() {
  if (console_) console_->stop();  // before guest memory (the ring is a view into it) goes away
}

std::expected<HostBinding, std::string> PvServices::open_channel(std::uint32_t param, std::function<void()> on_guest) {
  EventChannels& evtchn = platform_.event_channels();
  auto guest_port = evtchn.alloc_unbound_for_guest(0);
  if (!guest_port) return std::unexpected(fmt::format("evtchn: no port for HVM param {}", param));
  auto binding = evtchn.bind_interdomain_from_host(*guest_port, [cb = std::move(on_guest)](evtchn_port_t) { cb(); });
  if (!binding) return std::unexpected(fmt::format("evtchn: cannot bind HVM param {}'s port", param));
  platform_.set_hvm_param(param, *guest_port);
  return *binding;
}

std::expected<void, std::string> PvServices::start_store(GuestMemory& memory) {
  auto page = memory.span(platform_.config().store_pfn << kPageShift, kPageSize);
  if (!page) return std::unexpected(std::string("xenstore: the store page is not in guest RAM"));
  // The guest's notification runs the ring on the notifying vCPU; replies go back the same way.
  auto channel = open_channel(HVM_PARAM_STORE_EVTCHN, [this] {
    try {
      if (store_ring_ && store_ring_->process()) platform_.event_channels().notify_guest(store_port_.host_port);
    } catch (const std::bad_alloc&) {
      platform_.thread_failed("xenstore", "out of memory");  // not std::terminate on a guest's kick
    }
  });
  if (!channel) return std::unexpected(channel.error());
  store_port_ = *channel;
  auto ring = xenstore::XenStoreRing::create(store_, platform_.config().domid, *page, [this] {
    platform_.event_channels().notify_guest(store_port_.host_port);
  });
  if (!ring) return std::unexpected(ring.error());
  store_ring_ = std::move(*ring);
  return {};
}

std::expected<void, std::string> PvServices::start_console(GuestMemory& memory, const PvServicesConfig& config,
                                                           std::function<void()> on_escape) {
  console::ConsoleCallbacks callbacks;
  callbacks.notify_guest = [this] { platform_.event_channels().notify_guest(console_port_.host_port); };
  callbacks.on_escape = std::move(on_escape);
  callbacks.on_failure = [this](std::string_view what) { platform_.thread_failed("console", what); };
  auto backend = console::ConsoleBackend::create(config.console, std::move(callbacks));
  if (!backend) return std::unexpected(backend.error());
  console_ = std::move(*backend);
  auto channel = open_channel(HVM_PARAM_CONSOLE_EVTCHN, [this] { console_->guest_notified(); });
  if (!channel) return std::unexpected(channel.error());
  console_port_ = *channel;
  auto page = memory.span(platform_.config().console_pfn << kPageShift, kPageSize);
  if (!page) return std::unexpected(std::string("console: the console page is not in guest RAM"));
  if (auto err = console_->attach_ring(*page)) return std::unexpected(*err);
  console_->start();
  return {};
}

}  // namespace kxen
