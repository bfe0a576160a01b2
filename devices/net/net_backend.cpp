#include "net/net_backend.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xenbus/node_reader.hpp"

namespace kxen::net {
namespace {

// A frontend's boolean feature node: absent is `fallback`; junk is an error.
std::expected<bool, std::string> feature(xenstore::XenStore& store, const std::string& path, bool fallback) {
  auto value = xenbus::read_number(store, path, 1);
  if (!value) return std::unexpected(value.error());
  return value->has_value() ? **value == 1 : fallback;
}

}  // namespace

std::string format_mac(const MacAddress& mac) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

NicDevice::~NicDevice() {
  spdlog::info("net {}: tx {} packets {} bytes {} dropped; rx {} packets {} bytes {} dropped", config_.label,
               stats_.tx_packets.load(), stats_.tx_bytes.load(), stats_.tx_dropped.load(), stats_.rx_packets.load(),
               stats_.rx_bytes.load(), stats_.rx_dropped.load());
}

std::unique_ptr<xenbus::XenBackend> NicDevice::create() {
  std::vector<HostPort*> ports;
  for (auto& p : ports_) ports.push_back(p.get());
  return std::make_unique<NetBackend>(config_, std::move(ports), devid_, stats_);
}

xenbus::NodeList NetBackend::frontend_nodes() const {
  xenbus::NodeList nodes = {{"handle", fmt::format("{}", devid_)}, {"mac", format_mac(config_.mac)}};
  if (config_.mtu != 0) nodes.emplace_back("mtu", fmt::format("{}", config_.mtu));
  return nodes;
}

xenbus::NodeList NetBackend::backend_nodes() const {
  return {{"handle", fmt::format("{}", devid_)}, {"mac", format_mac(config_.mac)}, {"online", "1"}, {"type", "vif"}};
}

std::expected<void, std::string> NetBackend::advertise(xenbus::BackendContext& ctx) {
  const char* gso = config_.tx_gso ? "1" : "0";
  // No feature-xdp-headroom: netfront would wait forever for a Reconfiguring handshake.
  const xenbus::NodeList nodes = {{"feature-rx-copy", "1"},
                                  {"feature-rx-flip", "0"},
                                  {"feature-sg", "1"},
                                  {"feature-gso-tcpv4", gso},
                                  {"feature-gso-tcpv6", gso},
                                  {"feature-ipv6-csum-offload", "1"},
                                  {"feature-split-event-channels", "1"},
                                  {"multi-queue-max-queues", fmt::format("{}", ports_.size())}};
  for (const auto& [key, value] : nodes) {
    if (auto r = ctx.store().write(ctx.backend_path() + "/" + key, value); !r)
      return std::unexpected(fmt::format("cannot write {} (errno {})", key, r.error()));
  }
  return {};
}

std::expected<void, std::string> NetBackend::connect(xenbus::BackendContext& ctx) {
  disconnect();
  auto& store = ctx.store();
  const std::string& fe = ctx.frontend_path();
  auto rx_copy = feature(store, fe + "/request-rx-copy", false);
  if (!rx_copy) return std::unexpected(rx_copy.error());
  if (!*rx_copy) return std::unexpected(std::string("the frontend did not ask for rx-copy (request-rx-copy), the only mode served"));
  auto rx_notify = feature(store, fe + "/feature-rx-notify", false);
  if (!rx_notify) return std::unexpected(rx_notify.error());
  if (!*rx_notify) return std::unexpected(std::string("feature-rx-notify is required"));
  auto queues = xenbus::read_number(store, fe + "/multi-queue-num-queues", ports_.size());
  if (!queues) return std::unexpected(queues.error());
  const unsigned count = static_cast<unsigned>(queues->value_or(1));
  if (count == 0) return std::unexpected(std::string("multi-queue-num-queues is 0"));

  for (unsigned q = 0; q < ports_.size(); ++q) {
    if (auto r = ports_[q]->set_in_use(q < count); !r) return std::unexpected(r.error());
  }

  RxFeatures wanted;
  auto sg = feature(store, fe + "/feature-sg", false);
  auto gso4 = feature(store, fe + "/feature-gso-tcpv4", false);
  auto gso6 = feature(store, fe + "/feature-gso-tcpv6", false);
  auto no_csum = feature(store, fe + "/feature-no-csum-offload", false);
  auto csum6 = feature(store, fe + "/feature-ipv6-csum-offload", false);
  for (const auto* f : {&sg, &gso4, &gso6, &no_csum, &csum6})
    if (!*f) return std::unexpected(f->error());
  wanted.multi_slot = *sg;
  wanted.gso_tcpv4 = *gso4;
  wanted.gso_tcpv6 = *gso6;
  // A tap sums or leaves blank IPv4 and IPv6 alike: partial checksums only if both are taken.
  const bool csum = !*no_csum && *csum6;
  RxFeatures got = wanted;
  for (unsigned q = 0; q < count; ++q) got = ports_[q]->set_rx_offloads(csum, wanted);

  for (unsigned q = 0; q < count; ++q) {
    const std::string dir = count == 1 ? fe : fmt::format("{}/queue-{}", fe, q);
    auto queue = connect_queue(ctx, dir, q, got);
    if (!queue) {
      disconnect();
      return std::unexpected(queue.error());
    }
    queues_.push_back(std::move(*queue));
  }
  spdlog::info("net {}: {} queue(s), {} event channels, mac {}, sg {}, csum offload {}, gso v4 {} v6 {}",
               config_.label, count, split_ ? "split" : "shared", format_mac(config_.mac), got.multi_slot, csum,
               got.gso_tcpv4, got.gso_tcpv6);
  return {};
}

std::expected<std::unique_ptr<NetQueue>, std::string> NetBackend::connect_queue(xenbus::BackendContext& ctx,
                                                                               const std::string& dir, unsigned index,
                                                                               const RxFeatures& features) {
  auto& store = ctx.store();
  auto tx_ref = xenbus::require_number(store, dir + "/tx-ring-ref", UINT32_MAX);
  if (!tx_ref) return std::unexpected(tx_ref.error());
  auto rx_ref = xenbus::require_number(store, dir + "/rx-ring-ref", UINT32_MAX);
  if (!rx_ref) return std::unexpected(rx_ref.error());
  auto shared = xenbus::read_number(store, dir + "/event-channel", UINT32_MAX);
  if (!shared) return std::unexpected(shared.error());
  std::vector<evtchn_port_t> ports;
  split_ = !shared->has_value();
  if (!split_) {
    ports.push_back(static_cast<evtchn_port_t>(**shared));
  } else {
    for (const char* node : {"/event-channel-tx", "/event-channel-rx"}) {
      auto port = xenbus::require_number(store, dir + node, UINT32_MAX);
      if (!port) return std::unexpected(port.error());
      ports.push_back(static_cast<evtchn_port_t>(*port));
    }
  }

  NetQueue::Parts parts;
  parts.label = fmt::format("net {} q{}", config_.label, index);
  parts.grants = &ctx.grants();
  parts.port = ports_[index];
  parts.rx_features = features;
  parts.stats = &stats_;
  const grant_ref_t refs[] = {static_cast<grant_ref_t>(*tx_ref), static_cast<grant_ref_t>(*rx_ref)};
  auto mapped = ctx.grants().map(refs, true);
  for (auto& m : mapped)
    if (m) parts.ring_pages.push_back(*m);
  auto release = [&] {
    if (!parts.ring_pages.empty()) ctx.grants().unmap(parts.ring_pages);
  };
  if (parts.ring_pages.size() != 2) {
    release();
    return std::unexpected(fmt::format("{}: a ring page's grant is not usable", dir));
  }
  for (std::size_t i = 0; i < ports.size(); ++i) {
    auto channel = ctx.bind(ports[i]);
    if (!channel) {
      release();
      return std::unexpected(channel.error());
    }
    (i == 0 ? parts.tx_channel : parts.rx_channel) = std::move(*channel);
  }
  auto* grants = parts.grants;
  auto pages = parts.ring_pages;
  auto queue = NetQueue::start(std::move(parts));
  if (!queue) grants->unmap(pages);
  return queue;
}

void NetBackend::disconnect() {
  for (auto& queue : queues_) queue->stop();
  queues_.clear();
}

}  // namespace kxen::net
