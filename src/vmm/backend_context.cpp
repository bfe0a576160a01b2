#include "vmm/backend_context.hpp"

#include <fmt/format.h>

namespace kxen {
namespace {

// A host port bound to the frontend's port; closing it reverts the guest's end to unbound.
class HostEventChannel final : public xenbus::EventChannel {
 public:
  HostEventChannel(EventChannels& channels, HostBinding binding) : channels_(channels), binding_(binding) {}
  ~HostEventChannel() override { channels_.close_host_port(binding_.host_port); }
  HostEventChannel(const HostEventChannel&) = delete;
  HostEventChannel& operator=(const HostEventChannel&) = delete;

  int eventfd() const override { return binding_.eventfd; }
  evtchn_port_t frontend_port() const override { return binding_.guest_port; }
  bool notify() override { return channels_.notify_guest(binding_.host_port) == 0; }

 private:
  EventChannels& channels_;
  HostBinding binding_;
};

}  // namespace

PlatformBackendContext::PlatformBackendContext(XenPlatform& platform, xenstore::XenStore& store,
                                               std::string frontend_path, std::string backend_path,
                                               FailureHandler on_failure)
    : platform_(platform),
      store_(store),
      grants_(platform.grant_table()),
      frontend_path_(std::move(frontend_path)),
      backend_path_(std::move(backend_path)),
      on_failure_(std::move(on_failure)) {}

std::expected<std::unique_ptr<xenbus::EventChannel>, std::string> PlatformBackendContext::bind(
    evtchn_port_t frontend_port) {
  // Kernel-routed: with kvm-xen the guest's kick signals the eventfd without leaving KVM.
  auto binding = platform_.event_channels().bind_interdomain_from_host(frontend_port, {}, true);
  if (!binding)
    return std::unexpected(fmt::format("cannot bind the frontend's event channel {} (error {})", frontend_port,
                                       binding.error()));
  return std::make_unique<HostEventChannel>(platform_.event_channels(), *binding);
}

}  // namespace kxen
