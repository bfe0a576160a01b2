#include "console/console_device.hpp"

namespace kxen::console {

std::expected<void, std::string> ConsoleDevice::connect(xenbus::BackendContext& ctx) {
  auto channel = ctx.bind(port_);
  if (!channel) return std::unexpected("console: " + channel.error());
  channel_ = std::move(*channel);
  if (auto err = backend_->attach_ring(page_, channel_->eventfd())) return std::unexpected(*err);
  backend_->start();
  return {};
}

void ConsoleDevice::disconnect() {
  backend_->stop();  // before the channel closes: the I/O thread polls its eventfd
  channel_.reset();
}

}  // namespace kxen::console
