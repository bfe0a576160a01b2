// The dom0 side of event channels (kxen's in-process backends), VIRQs, poll, and the
// effects that run after the lock is dropped.
#include <sys/eventfd.h>
#include <unistd.h>

#include <xen/errno.h>

#include <cerrno>

#include "kxen/log.hpp"
#include "xen/evtchn/event_channels.hpp"

namespace kxen {

std::expected<evtchn_port_t, int> EventChannels::alloc_unbound_for_guest(domid_t remote) {
  evtchn_alloc_unbound op{};
  op.dom = DOMID_SELF;
  op.remote_dom = remote;
  if (const int rc = alloc_unbound(op); rc != 0) return std::unexpected(rc);
  return op.port;
}

std::expected<HostBinding, int> EventChannels::bind_interdomain_from_host(evtchn_port_t guest_port,
                                                                         HostNotify on_notify, bool kernel_route) {
  HostBinding binding;
  const int rc = locked([&](Effects& fx) {
    if (guest_port >= ports_.size() || ports_[guest_port].state != State::unbound || ports_[guest_port].remote_dom != 0)
      return -XEN_EINVAL;
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return -XEN_ENOMEM;
    evtchn_port_t host = 1;
    while (host < host_ports_.size() && host_ports_[host].used) ++host;
    if (host == host_ports_.size()) host_ports_.emplace_back();
    auto notify = on_notify ? std::make_shared<const HostNotify>(std::move(on_notify)) : nullptr;
    host_ports_[host] = HostPort{true, guest_port, std::make_shared<const EventFd>(fd), std::move(notify),
                                  kernel_route};
    ports_[guest_port].state = State::interdomain;
    ports_[guest_port].remote_port = host;
    binding = HostBinding{host, guest_port, fd};
    if (kernel_route) fx.routes.push_back(KernelRoute{guest_port, KernelRoute::Kind::eventfd, fd});
    // Events the guest sent while unbound were dropped: signal the new end once (as Xen).
    signal_host_locked(host, fx);
    return 0;
  });
  if (rc != 0) return std::unexpected(rc);
  return binding;
}

int EventChannels::notify_guest(evtchn_port_t host_port) {
  return locked([&](Effects& fx) {
    if (host_port == 0 || host_port >= host_ports_.size() || !host_ports_[host_port].used) return -XEN_EINVAL;
    const evtchn_port_t guest = host_ports_[host_port].guest_port;
    if (guest == 0) return -XEN_ENOTCONN;
    raise_locked(guest, fx);
    return 0;
  });
}

int EventChannels::close_host_port(evtchn_port_t host_port) {
  return locked([&](Effects& fx) {
    if (host_port == 0 || host_port >= host_ports_.size() || !host_ports_[host_port].used) return -XEN_EINVAL;
    HostPort& h = host_ports_[host_port];
    if (h.guest_port != 0) {
      ports_[h.guest_port].state = State::unbound;  // remote_dom stays 0: a backend may rebind
      ports_[h.guest_port].remote_port = 0;
      if (h.kernel_route) fx.routes.push_back(KernelRoute{h.guest_port});
    }
    h = HostPort{};  // the eventfd closes once no in-flight signal holds it
    return 0;
  });
}

void EventChannels::set_route_listener(RouteListener listener) {
  std::lock_guard lock(mutex_);
  route_listener_ = std::move(listener);
}

void EventChannels::signal_host_locked(evtchn_port_t host_port, Effects& fx) {
  const HostPort& h = host_ports_[host_port];
  fx.host.push_back(HostSignal{h.eventfd, host_port, h.notify});
}

bool EventChannels::raise_virq(std::uint32_t vcpu, std::uint32_t virq) {
  if (virq >= NR_VIRQS || !known_vcpu(vcpu)) return false;
  return locked([&](Effects& fx) {
    const evtchn_port_t port = virqs_[virq_is_global(virq) ? 0 : vcpu][virq];
    if (port == 0) return 0;
    raise_locked(port, fx);
    return 1;
  }) == 1;
}

bool EventChannels::any_pending(std::span<const evtchn_port_t> ports) const {
  std::lock_guard lock(mutex_);
  for (const evtchn_port_t p : ports)
    if (p != 0 && p < ports_.size() && delivery_->is_pending(p)) return true;
  return false;
}

void EventChannels::finish(Effects& fx) {
  for (const std::uint32_t vcpu : fx.kicks) sink_.kick(vcpu);
  for (const evtchn_port_t port : fx.raised) sink_.port_raised(port);
  for (const std::uint32_t vcpu : fx.poll_wakes) sink_.wake_poller(vcpu);
  for (const HostSignal& s : fx.host) {
    const std::uint64_t one = 1;
    // EAGAIN means the counter is saturated: the backend has a wake-up pending anyway.
    if (::write(s.eventfd->fd, &one, sizeof one) < 0 && errno != EAGAIN)
      spdlog::warn("evtchn: eventfd of host port {} not signalled: {}", s.host_port, errno);
    if (s.notify) (*s.notify)(s.host_port);
  }
  if (fx.route_listener)
    for (const KernelRoute& route : fx.routes) fx.route_listener(route);
}

}  // namespace kxen
