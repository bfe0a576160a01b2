#include "xen/evtchn/event_channels.hpp"

#include <unistd.h>
#include <xen/errno.h>

#include "kxen/log.hpp"
#include "xen/evtchn/fifo.hpp"
#include "xen/evtchn/two_level.hpp"

namespace kxen {

EventChannels::EventChannels(const EventChannelsConfig& config, GuestMemory& memory, SharedInfoLocator& locator,
                             UpcallSink& sink)
    : config_(config), memory_(memory), locator_(locator), sink_(sink), ports_(1), virqs_(config.vcpus),
      host_ports_(1), two_level_(std::make_unique<TwoLevelDelivery>(memory, locator)) {
  ports_[0].state = State::reserved;
  host_ports_[0].used = true;
  delivery_ = two_level_.get();
}

EventChannels::~EventChannels() = default;

EventChannels::EventFd::~EventFd() {
  if (fd >= 0) ::close(fd);
}

int EventChannels::other_domain_error(domid_t dom) { return dom == 0 ? -XEN_EPERM : -XEN_ESRCH; }

PortTarget EventChannels::target(evtchn_port_t port) const {
  const Port& p = ports_[port];
  return PortTarget{port, p.vcpu, p.priority};
}

std::expected<evtchn_port_t, int> EventChannels::allocate_locked() {
  const std::uint32_t limit = std::min(delivery_->port_limit(), config_.max_ports);
  for (evtchn_port_t p = 1; p < ports_.size() && p < limit; ++p) {
    // A FIFO port still LINKED in a guest queue cannot be handed out again yet.
    if (ports_[p].state == State::free && !delivery_->is_busy(p)) {
      ports_[p] = Port{};
      return p;
    }
  }
  if (ports_.size() >= limit) return std::unexpected(-XEN_ENOSPC);
  ports_.emplace_back();
  return static_cast<evtchn_port_t>(ports_.size() - 1);
}

void EventChannels::free_locked(evtchn_port_t port) {
  // Clear a stale event so a later binding of this port does not fire spuriously.
  delivery_->clear_pending(port);
  ports_[port] = Port{};
}

void EventChannels::raise_locked(evtchn_port_t port, Effects& fx) {
  const SetPendingResult r = delivery_->set_pending(target(port), fx);
  if (!r.stored) ports_[port].saved_pending = true;
  if (r.newly_pending) fx.raised.push_back(port);
}

int EventChannels::alloc_unbound(evtchn_alloc_unbound& op) {
  if (!is_self(op.dom)) return other_domain_error(op.dom);
  return locked([&](Effects&) {
    const auto port = allocate_locked();
    if (!port) return port.error();
    Port& p = ports_[*port];
    p.state = State::unbound;
    p.remote_dom = op.remote_dom == DOMID_SELF ? config_.domid : op.remote_dom;
    op.port = *port;
    return 0;
  });
}

int EventChannels::bind_interdomain(evtchn_bind_interdomain& op) {
  // Only loopback binds are possible from the guest: kxen's backends bind from the host side.
  if (!is_self(op.remote_dom)) return op.remote_dom == 0 ? -XEN_EINVAL : -XEN_ESRCH;
  return locked([&](Effects& fx) {
    const evtchn_port_t remote = op.remote_port;
    if (remote >= ports_.size() || ports_[remote].state != State::unbound ||
        ports_[remote].remote_dom != config_.domid)
      return -XEN_EINVAL;
    const auto local = allocate_locked();
    if (!local) return local.error();
    ports_[*local].state = State::interdomain;
    ports_[*local].remote_dom = config_.domid;
    ports_[*local].remote_port = remote;
    ports_[remote].state = State::interdomain;
    ports_[remote].remote_port = *local;
    op.local_port = *local;
    // Notifications sent while the remote end was unbound were dropped: raise one now (as Xen).
    raise_locked(*local, fx);
    return 0;
  });
}

int EventChannels::bind_virq(evtchn_bind_virq& op) {
  if (op.virq >= NR_VIRQS) return -XEN_EINVAL;
  if (virq_is_global(op.virq) && op.vcpu != 0) return -XEN_EINVAL;
  if (!known_vcpu(op.vcpu)) return -XEN_ENOENT;
  return locked([&](Effects&) {
    if (virqs_[op.vcpu][op.virq] != 0) return -XEN_EEXIST;
    const auto port = allocate_locked();
    if (!port) return port.error();
    ports_[*port].state = State::virq;
    ports_[*port].vcpu = op.vcpu;
    ports_[*port].virq = op.virq;
    virqs_[op.vcpu][op.virq] = *port;
    op.port = *port;
    return 0;
  });
}

int EventChannels::bind_ipi(evtchn_bind_ipi& op) {
  if (!known_vcpu(op.vcpu)) return -XEN_ENOENT;
  return locked([&](Effects& fx) {
    const auto port = allocate_locked();
    if (!port) return port.error();
    ports_[*port].state = State::ipi;
    ports_[*port].vcpu = op.vcpu;
    // The vCPU is fixed for an IPI (EVTCHNOP_bind_vcpu refuses it), so the route never changes.
    // Without a listener (no KVM to route in) the port is served in user space only.
    if (route_listener_ && delivery_ == two_level_.get()) {
      ports_[*port].ipi_in_kernel = true;
      fx.routes.push_back(KernelRoute{*port, KernelRoute::Kind::local, -1, op.vcpu});
    }
    op.port = *port;
    return 0;
  });
}

int EventChannels::close_locked(evtchn_port_t port, Effects& fx) {
  if (port >= ports_.size()) return -XEN_EINVAL;
  Port& p = ports_[port];
  switch (p.state) {
    case State::free:
    case State::reserved:
      return -XEN_EINVAL;
    case State::virq:
      for (auto& table : virqs_)
        if (table[p.virq] == port) table[p.virq] = 0;
      break;
    case State::interdomain:
      if (p.remote_dom == 0) {
        HostPort& h = host_ports_[p.remote_port];
        h.guest_port = 0;
        if (h.kernel_route) fx.routes.push_back(KernelRoute{port});
      } else {
        // Loopback peer goes back to unbound, as Xen does for the remote end.
        ports_[p.remote_port].state = State::unbound;
        ports_[p.remote_port].remote_port = 0;
      }
      break;
    case State::ipi:
      if (p.ipi_in_kernel) fx.routes.push_back(KernelRoute{port});
      break;
    case State::unbound:
      break;
  }
  free_locked(port);
  return 0;
}

int EventChannels::close(evtchn_port_t port) {
  return locked([&](Effects& fx) { return close_locked(port, fx); });
}

int EventChannels::send(evtchn_port_t port) {
  return locked([&](Effects& fx) {
    if (port >= ports_.size()) return -XEN_EINVAL;
    const Port& p = ports_[port];
    switch (p.state) {
      case State::interdomain:
        route_send_locked(p, fx);
        return 0;
      case State::ipi:
        raise_locked(port, fx);
        return 0;
      case State::unbound:
        return 0;  // nobody listens yet: dropped, as in Xen
      default:
        return -XEN_EINVAL;
    }
  });
}

void EventChannels::route_send_locked(const Port& port, Effects& fx) {
  if (port.remote_dom == 0)
    signal_host_locked(port.remote_port, fx);
  else
    raise_locked(port.remote_port, fx);
}

int EventChannels::status(evtchn_status& op) const {
  if (!is_self(op.dom)) return other_domain_error(op.dom);
  std::lock_guard lock(mutex_);
  if (op.port >= ports_.size()) return -XEN_EINVAL;
  const Port& p = ports_[op.port];
  op.vcpu = p.vcpu;
  switch (p.state) {
    case State::free:
    case State::reserved:
      op.status = EVTCHNSTAT_closed;
      break;
    case State::unbound:
      op.status = EVTCHNSTAT_unbound;
      op.u.unbound.dom = p.remote_dom;
      break;
    case State::interdomain:
      op.status = EVTCHNSTAT_interdomain;
      op.u.interdomain.dom = p.remote_dom;
      op.u.interdomain.port = p.remote_port;
      break;
    case State::virq:
      op.status = EVTCHNSTAT_virq;
      op.u.virq = p.virq;
      break;
    case State::ipi:
      op.status = EVTCHNSTAT_ipi;
      break;
  }
  return 0;
}

int EventChannels::bind_vcpu(const evtchn_bind_vcpu& op) {
  if (!known_vcpu(op.vcpu)) return -XEN_ENOENT;
  std::lock_guard lock(mutex_);
  if (op.port >= ports_.size()) return -XEN_EINVAL;
  Port& p = ports_[op.port];
  const bool movable = p.state == State::unbound || p.state == State::interdomain ||
                       (p.state == State::virq && virq_is_global(p.virq));
  if (!movable) return -XEN_EINVAL;
  p.vcpu = op.vcpu;
  return 0;
}

int EventChannels::unmask(evtchn_port_t port) {
  return locked([&](Effects& fx) {
    if (port >= ports_.size()) return -XEN_EINVAL;
    delivery_->unmask(target(port), fx);
    return 0;
  });
}

int EventChannels::set_priority(const evtchn_set_priority& op) {
  std::lock_guard lock(mutex_);
  if (op.port >= ports_.size()) return -XEN_EINVAL;
  if (delivery_->abi() != EventAbi::fifo) return -XEN_ENOSYS;
  if (op.priority > EVTCHN_FIFO_PRIORITY_MIN) return -XEN_EINVAL;
  // Affects future events only; an event already queued stays on its old queue (as in Xen).
  ports_[op.port].priority = static_cast<std::uint8_t>(op.priority);
  return 0;
}

std::vector<PortInfo> EventChannels::ports_in_use() const {
  static constexpr std::string_view kNames[] = {"free", "reserved", "unbound", "interdomain", "virq", "ipi"};
  std::lock_guard lock(mutex_);
  std::vector<PortInfo> out;
  for (evtchn_port_t port = 1; port < ports_.size(); ++port) {
    const Port& p = ports_[port];
    if (p.state == State::free) continue;
    out.push_back(PortInfo{port, kNames[static_cast<int>(p.state)], p.vcpu, p.virq, p.remote_dom, p.remote_port,
                           delivery_->is_pending(port), delivery_->is_masked(port)});
  }
  return out;
}

}  // namespace kxen
