#include "xenbus/xenbus.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "kxen/log.hpp"
#include "xen/xenstore/device_nodes.hpp"

namespace kxen::xenbus {

XenBus::XenBus(xenstore::XenStore& store, xenstore::DomId frontend_domid, ContextFactory contexts)
    : store_(store), domid_(frontend_domid), contexts_(std::move(contexts)) {}

XenBus::~XenBus() { stop(); }

std::expected<void, std::string> XenBus::add(std::unique_ptr<XenBackend> backend) {
  xenstore::DeviceNodes nodes;
  nodes.frontend_domid = domid_;
  nodes.type = std::string(backend->type());
  nodes.devid = backend->devid();
  nodes.frontend = backend->frontend_nodes();
  nodes.backend = backend->backend_nodes();
  auto device = std::make_unique<Device>();
  device->label = fmt::format("{} {}", nodes.type, nodes.devid);
  if (auto r = xenstore::write_device_nodes(store_, nodes); !r)
    return std::unexpected(fmt::format("xenbus: {}: cannot write its nodes (errno {})", device->label, r.error()));
  device->context = contexts_(xenstore::frontend_path(nodes), xenstore::backend_path(nodes));
  device->backend = std::move(backend);
  if (auto r = device->backend->advertise(*device->context); !r)
    return std::unexpected(fmt::format("xenbus: {}: {}", device->label, r.error()));
  switch_state(*device, XenbusStateInitWait);
  const std::size_t index = devices_.size();
  devices_.push_back(std::move(device));
  auto watch = store_.watch(devices_.back()->context->frontend_path() + "/state",
                            [this, index](std::string_view) { queue(index); });
  if (!watch) return std::unexpected(fmt::format("xenbus: {}: cannot watch its frontend", devices_.back()->label));
  devices_.back()->watch = *watch;
  return {};
}

void XenBus::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { serve(); });
}

void XenBus::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& device : devices_) {
    if (device->watch != 0) store_.unwatch(device->watch);
    device->backend->disconnect();
  }
}

XenbusState XenBus::backend_state(std::size_t index) const {
  std::lock_guard lock(mutex_);
  return index < devices_.size() ? devices_[index]->state : XenbusStateUnknown;
}

void XenBus::queue(std::size_t index) {
  {
    std::lock_guard lock(mutex_);
    if (std::find(pending_.begin(), pending_.end(), index) == pending_.end()) pending_.push_back(index);
  }
  wake_.notify_one();
}

void XenBus::process_pending() {
  for (;;) {
    std::size_t index = 0;
    {
      std::lock_guard lock(mutex_);
      if (pending_.empty() || stopping_) return;
      index = pending_.front();
      pending_.erase(pending_.begin());
    }
    if (index < devices_.size()) handle(*devices_[index]);
  }
}

void XenBus::refresh_connected() {
  for (auto& device : devices_) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (device->state != XenbusStateConnected) continue;
    }
    auto changed = device->backend->refresh(*device->context);
    if (!changed) {
      if (changed.error() != device->refresh_error)
        spdlog::warn("xenbus: {}: cannot refresh: {}", device->label, changed.error());
      device->refresh_error = changed.error();
      continue;
    }
    device->refresh_error.clear();
    if (!*changed) continue;
    // A frontend on its way out would take a repeated Connected as a reason to start over.
    const auto text = store_.read(device->context->frontend_path() + "/state");
    if (!text || parse_state(*text) != XenbusStateConnected) continue;
    spdlog::info("xenbus: {}: changed on the host; Connected again for the frontend to re-read it", device->label);
    switch_state(*device, XenbusStateConnected);
  }
}

void XenBus::serve() {
  try {
    auto next_refresh = std::chrono::steady_clock::now() + kRefreshInterval;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait_until(lock, next_refresh, [this] { return stopping_ || !pending_.empty(); });
        if (stopping_) return;
      }
      process_pending();
      if (std::chrono::steady_clock::now() >= next_refresh) {
        refresh_connected();
        next_refresh = std::chrono::steady_clock::now() + kRefreshInterval;
      }
    }
  } catch (const std::exception& e) {
    // Out of memory while connecting: the VM stops as crashed instead of std::terminate.
    if (!devices_.empty()) devices_.front()->context->failed(fmt::format("xenbus: {}", e.what()));
  }
}

void XenBus::handle(Device& device) {
  const auto text = store_.read(device.context->frontend_path() + "/state");
  XenbusState frontend = XenbusStateUnknown;
  if (text) {
    const auto parsed = parse_state(*text);
    if (!parsed) {
      KXEN_GUEST_WARN("xenbus: {}: the frontend wrote state '{:.16}'; ignored", device.label, *text);
      return;
    }
    frontend = *parsed;
  }
  const Transition t = on_frontend_state(device.state, frontend);
  spdlog::debug("xenbus: {}: frontend {}, backend {}", device.label, state_name(frontend), state_name(device.state));
  switch (t.step) {
    case BackendStep::none:
    case BackendStep::reinit:
      break;
    case BackendStep::disconnect:
      device.backend->disconnect();
      break;
    case BackendStep::connect:
      if (auto r = device.backend->connect(*device.context); !r) {
        KXEN_GUEST_WARN("xenbus: {}: cannot connect: {}", device.label, r.error());
        device.backend->disconnect();
        [[maybe_unused]] auto w = store_.write(device.context->backend_path() + "/error", r.error());
        switch_state(device, XenbusStateClosing);
        return;
      }
      // A reason left by an earlier failed connect no longer holds.
      [[maybe_unused]] auto cleared = store_.rm(device.context->backend_path() + "/error");
      spdlog::info("xenbus: {}: connected", device.label);
      break;
  }
  if (t.next) switch_state(device, *t.next);
}

void XenBus::switch_state(Device& device, XenbusState next) {
  {
    std::lock_guard lock(mutex_);
    device.state = next;
  }
  if (auto r = store_.write(device.context->backend_path() + "/state", fmt::format("{}", static_cast<int>(next))); !r)
    spdlog::warn("xenbus: {}: cannot write its state (errno {})", device.label, r.error());
}

}  // namespace kxen::xenbus
