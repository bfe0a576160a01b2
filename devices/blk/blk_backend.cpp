#include "blk/blk_backend.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xenbus/node_reader.hpp"

namespace kxen::blk {

std::string DiskDevice::describe() const { return fmt::format("vbd {} ({})", vdev_, image_.path()); }

std::unique_ptr<xenbus::XenBackend> DiskDevice::create() {
  return std::make_unique<BlkBackend>(image_, vdev_, devid_);
}

xenbus::NodeList BlkBackend::frontend_nodes() const {
  // blkfront refuses a PVH (HVM-type) guest's disk without device-type.
  return {{"virtual-device", fmt::format("{}", devid_)}, {"device-type", "disk"}};
}

xenbus::NodeList BlkBackend::backend_nodes() const {
  return {{"dev", vdev_},
          {"type", image_.is_block_device() ? "phy" : "file"},
          {"params", image_.path()},
          {"mode", image_.readonly() ? "r" : "w"},
          {"device-type", "disk"},
          {"removable", "0"},
          {"bootable", "1"},
          {"online", "1"}};
}

unsigned BlkBackend::max_queues() const {
  return image_.options().queues != 0 ? image_.options().queues : kDefaultQueues;
}

BlkLimits BlkBackend::limits() const {
  BlkLimits limits;
  limits.disk_sectors = image_.sectors();
  limits.readonly = image_.readonly();
  limits.discard = image_.discard_supported() && !image_.readonly();
  limits.max_indirect_segments = kIndirectSegments;
  return limits;
}

std::expected<void, std::string> BlkBackend::advertise(xenbus::BackendContext& ctx) {
  const BlkLimits l = limits();
  xenbus::NodeList nodes = {{"feature-flush-cache", "1"},
                            {"feature-barrier", "1"},
                            // Off by default: mapping in-process costs no hypercall, so blkfront's
                            // copies through persistent pages would only add work.
                            {"feature-persistent", image_.options().persistent ? "1" : "0"},
                            {"feature-max-indirect-segments", fmt::format("{}", kIndirectSegments)},
                            {"multi-queue-max-queues", fmt::format("{}", max_queues())},
                            {"max-ring-page-order", fmt::format("{}", kMaxRingPageOrder)},
                            {"feature-discard", l.discard ? "1" : "0"}};
  if (l.discard) {
    nodes.emplace_back("discard-granularity", fmt::format("{}", image_.discard_granularity()));
    nodes.emplace_back("discard-alignment", fmt::format("{}", image_.discard_alignment()));
    nodes.emplace_back("discard-secure", "0");
  }
  for (const auto& [key, value] : nodes) {
    if (auto r = ctx.store().write(ctx.backend_path() + "/" + key, value); !r)
      return std::unexpected(fmt::format("cannot write {} (errno {})", key, r.error()));
  }
  return {};
}

std::expected<void, std::string> BlkBackend::connect(xenbus::BackendContext& ctx) {
  disconnect();
  if (auto resized = image_.refresh_size(); !resized) return std::unexpected(resized.error());
  auto& store = ctx.store();
  const std::string& fe = ctx.frontend_path();
  const auto protocol = store.read(fe + "/protocol");
  const auto abi = blkif_abi_of(protocol ? std::optional(*protocol) : std::nullopt);
  // Guest text bounded as read_number bounds it: the refusal lands in logs and the error node.
  if (!abi)
    return std::unexpected(fmt::format("protocol '{:.20}' is not served (x86_64-abi or x86_32-abi)", *protocol));
  auto queues = xenbus::read_number(store, fe + "/multi-queue-num-queues", max_queues());
  if (!queues) return std::unexpected(queues.error());
  auto order = xenbus::read_number(store, fe + "/ring-page-order", kMaxRingPageOrder);
  if (!order) return std::unexpected(order.error());
  const unsigned count = static_cast<unsigned>(queues->value_or(1));
  if (count == 0) return std::unexpected(std::string("multi-queue-num-queues is 0"));
  for (unsigned q = 0; q < count; ++q) {
    const std::string dir = count == 1 ? fe : fmt::format("{}/queue-{}", fe, q);
    auto queue = connect_queue(ctx, dir, q, static_cast<unsigned>(order->value_or(0)), *abi);
    if (!queue) {
      disconnect();
      return std::unexpected(queue.error());
    }
    queues_.push_back(std::move(*queue));
  }
  const xenbus::NodeList nodes = {{"sectors", fmt::format("{}", image_.sectors())},
                                  {"info", fmt::format("{}", image_.readonly() ? VDISK_READONLY : 0)},
                                  {"sector-size", fmt::format("{}", image_.logical_sector_size())},
                                  {"physical-sector-size", fmt::format("{}", image_.physical_sector_size())}};
  for (const auto& [key, value] : nodes) {
    if (auto r = store.write(ctx.backend_path() + "/" + key, value); !r)
      return std::unexpected(fmt::format("cannot write {} (errno {})", key, r.error()));
  }
  spdlog::info("blk {}: {} queue(s) of {} page(s), {} sectors, aio={}{}{}", vdev_, count, 1u << order->value_or(0),
               image_.sectors(), to_string(image_.options().aio), image_.readonly() ? ", read-only" : "",
               *abi == BlkifAbi::x86_32 ? ", x86_32 ABI" : "");
  return {};
}

std::expected<std::unique_ptr<BlkQueue>, std::string> BlkBackend::connect_queue(xenbus::BackendContext& ctx,
                                                                                const std::string& dir,
                                                                                unsigned index, unsigned order,
                                                                                BlkifAbi abi) {
  auto& store = ctx.store();
  std::vector<grant_ref_t> refs;
  for (unsigned page = 0; page < (1u << order); ++page) {
    const std::string node = order == 0 ? dir + "/ring-ref" : fmt::format("{}/ring-ref{}", dir, page);
    auto ref = xenbus::require_number(store, node, UINT32_MAX);
    if (!ref) return std::unexpected(ref.error());
    refs.push_back(static_cast<grant_ref_t>(*ref));
  }
  auto port = xenbus::require_number(store, dir + "/event-channel", UINT32_MAX);
  if (!port) return std::unexpected(port.error());

  BlkQueue::Parts parts;
  parts.label = fmt::format("blk {} q{}", vdev_, index);
  parts.disk = &image_;
  parts.limits = limits();
  parts.grants = &ctx.grants();
  parts.abi = abi;
  auto mapped = ctx.grants().map(refs, true);
  for (std::size_t i = 0; i < mapped.size(); ++i) {
    if (mapped[i]) parts.ring_pages.push_back(*mapped[i]);
  }
  if (parts.ring_pages.size() != refs.size()) {
    ctx.grants().unmap(parts.ring_pages);
    return std::unexpected(fmt::format("{}: a ring page's grant is not usable", dir));
  }
  auto channel = ctx.bind(static_cast<evtchn_port_t>(*port));
  if (!channel) {
    ctx.grants().unmap(parts.ring_pages);
    return std::unexpected(channel.error());
  }
  parts.channel = std::move(*channel);
  auto* grants = parts.grants;
  auto pages = parts.ring_pages;
  auto queue = BlkQueue::start(std::move(parts));
  if (!queue) grants->unmap(pages);
  return queue;
}

std::expected<bool, std::string> BlkBackend::refresh(xenbus::BackendContext& ctx) {
  auto resized = image_.refresh_size();
  if (!resized || !*resized) return resized;
  if (auto r = ctx.store().write(ctx.backend_path() + "/sectors", fmt::format("{}", image_.sectors())); !r)
    return std::unexpected(fmt::format("cannot write sectors (errno {})", r.error()));
  spdlog::info("blk {}: resized to {} sectors", vdev_, image_.sectors());
  return true;
}

void BlkBackend::disconnect() {
  for (auto& queue : queues_) queue->stop();
  queues_.clear();
}

}  // namespace kxen::blk
