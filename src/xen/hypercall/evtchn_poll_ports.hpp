// SCHEDOP_poll's view of a VM's event channels.
#pragma once

#include "xen/evtchn/event_channels.hpp"  // first: it pins __XEN_INTERFACE_VERSION__
#include "xen/hypercall/sched_poll.hpp"

namespace kxen {

class EvtchnPollPorts final : public PollPorts {
 public:
  explicit EvtchnPollPorts(const EventChannels& evtchn) : evtchn_(evtchn) {}

  bool valid(std::uint32_t port) const override {
    evtchn_status status{};
    status.dom = DOMID_SELF;
    status.port = port;
    return evtchn_.status(status) == 0;  // -XEN_EINVAL beyond the port table, as Xen's port_is_valid
  }
  bool any_pending(std::span<const std::uint32_t> ports) const override { return evtchn_.any_pending(ports); }

 private:
  const EventChannels& evtchn_;
};

}  // namespace kxen
