// Event channels of one VM: the port table, both delivery ABIs (2-level and FIFO), the
// EVTCHNOP_* hypercall, and the dom0 side used by kxen's in-process backends.
//
// Lock order: EventChannels::mutex_ -> GuestMemory's mutex (leaf). UpcallSink and backend
// notifications are always invoked after mutex_ is released, so they may call back in.
#pragma once

// One Xen interface version for every kxen translation unit (grant v2 needs >= 0x0003020a);
// Xen's public headers also expect the C fixed-width types to be declared first.
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif
#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>

#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"
#include "xen/evtchn/delivery.hpp"

namespace kxen {

class FifoDelivery;

// Per-vCPU VIRQs; all others are global and bound on vCPU 0 (Xen's virq_is_global).
inline bool virq_is_global(std::uint32_t virq) {
  return virq != VIRQ_TIMER && virq != VIRQ_DEBUG && virq != VIRQ_XENOPROF && virq != VIRQ_XENPMU;
}

struct EventChannelsConfig {
  std::uint32_t vcpus = 1;
  domid_t domid = 1;                                // the guest's own domain id
  std::uint32_t max_ports = EVTCHN_FIFO_NR_CHANNELS; // upper bound on guest ports (both ABIs)
};

// A dom0 (host) port connected to a guest port. The eventfd becomes readable whenever the
// guest sends on its end; it is owned by EventChannels and closed by close_host_port().
struct HostBinding {
  evtchn_port_t host_port = 0;
  evtchn_port_t guest_port = 0;
  int eventfd = -1;
};

// Where KVM may take the guest's EVTCHNOP_send on a port without an exit to kxen.
struct KernelRoute {
  enum class Kind : std::uint8_t {
    none,     // sends come back to kxen (the port closed, or its ABI cannot be served by KVM)
    eventfd,  // a host port's: KVM signals the backend's eventfd
    local,    // an IPI: KVM raises the same port on `vcpu` (2-level delivery only)
  };
  evtchn_port_t guest_port = 0;
  Kind kind = Kind::none;
  int eventfd = -1;
  std::uint32_t vcpu = 0;
};

// One port in use, for the debugger's `monitor evtchn`.
struct PortInfo {
  evtchn_port_t port = 0;
  std::string_view type;  // "unbound", "interdomain", "virq", "ipi", "reserved"
  std::uint32_t vcpu = 0;
  std::uint32_t virq = 0;            // virq ports
  domid_t remote_dom = 0;            // unbound / interdomain
  evtchn_port_t remote_port = 0;     // interdomain
  bool pending = false;
  bool masked = false;
};

class EventChannels final {
 public:
  // Called for each guest send to a host port, after the lock is dropped (in addition to the eventfd).
  using HostNotify = std::function<void(evtchn_port_t host_port)>;
  // Told when a guest port's sends may be taken in the kernel, or no longer, so the VM can
  // program KVM_XEN_ATTR_TYPE_EVTCHN: host ports bound with kernel_route, and IPIs while the
  // 2-level ABI is active (KVM delivers no FIFO events).
  using RouteListener = std::function<void(const KernelRoute& route)>;

  EventChannels(const EventChannelsConfig& config, GuestMemory& memory, SharedInfoLocator& locator, UpcallSink& sink);
  ~EventChannels();
  EventChannels(const EventChannels&) = delete;
  EventChannels& operator=(const EventChannels&) = delete;

  // __HYPERVISOR_event_channel_op: args[0] = EVTCHNOP_*, args[1] = guest-virtual struct pointer.
  HypercallOutcome hypercall(const HypercallRequest& request, GuestVirtual& gva);

  // The individual operations on host copies of the guest structs: 0 or -XEN_E*.
  int alloc_unbound(evtchn_alloc_unbound& op);
  int bind_interdomain(evtchn_bind_interdomain& op);
  int bind_virq(evtchn_bind_virq& op);
  int bind_ipi(evtchn_bind_ipi& op);
  int close(evtchn_port_t port);
  int send(evtchn_port_t port);
  int status(evtchn_status& op) const;
  int bind_vcpu(const evtchn_bind_vcpu& op);
  int unmask(evtchn_port_t port);
  int reset(domid_t dom);
  // EVTCHNOP_reset a step at a time: closes at most `budget` bound ports; true once none is
  // left (the ABI is then 2-level again), false when the hypercall must continue.
  std::expected<bool, int> reset_step(domid_t dom, std::uint32_t budget);
  int set_priority(const evtchn_set_priority& op);
  int init_control(evtchn_init_control& op);
  int expand_array(const evtchn_expand_array& op);

  // Host (dom0) side for in-process backends.
  // A guest port unbound for `remote` (0 = kxen), e.g. for HVM_PARAM_STORE_EVTCHN.
  std::expected<evtchn_port_t, int> alloc_unbound_for_guest(domid_t remote = 0);
  // Connects a new host port to the guest's unbound port `guest_port` (its remote must be 0).
  // `kernel_route`: the route listener hears of it, so the VM may have KVM signal the eventfd
  // on the guest's EVTCHNOP_send without an exit (on_notify then never runs for it).
  std::expected<HostBinding, int> bind_interdomain_from_host(evtchn_port_t guest_port, HostNotify on_notify = {},
                                                             bool kernel_route = false);
  // Raises the guest end of a host port: 0, or -XEN_ENOTCONN if the guest closed its end.
  int notify_guest(evtchn_port_t host_port);
  // Frees the host port and its eventfd; the guest's end reverts to unbound (as in Xen).
  int close_host_port(evtchn_port_t host_port);
  void set_route_listener(RouteListener listener);

  // Timer/console/debug VIRQs; a global VIRQ is looked up on vCPU 0. False if not bound.
  bool raise_virq(std::uint32_t vcpu, std::uint32_t virq);
  // SCHEDOP_poll helper: any of these (valid) ports pending? Invalid ports count as not pending.
  bool any_pending(std::span<const evtchn_port_t> ports) const;
  // Lets the VM substitute the 2-level strategy (e.g. KVM_XEN_HVM_EVTCHN_SEND); taken on reset too.
  void set_two_level_delivery(std::unique_ptr<PortDelivery> delivery);
  EventAbi abi() const;
  // Every port not free, in port order (a read-only snapshot).
  std::vector<PortInfo> ports_in_use() const;

 private:
  enum class State : std::uint8_t { free, reserved, unbound, interdomain, virq, ipi };
  struct Port {
    State state = State::free;
    std::uint32_t vcpu = 0;
    std::uint8_t priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
    bool saved_pending = false;       // raised while FIFO had no event word for it
    domid_t remote_dom = 0;           // unbound: who may bind; interdomain: peer domain
    evtchn_port_t remote_port = 0;    // interdomain: peer port (a host port if remote_dom == 0)
    std::uint32_t virq = 0;
    bool ipi_in_kernel = false;       // an IPI the route listener was told to route
  };
  // Owns an eventfd; shared with in-flight signals so a concurrent close cannot let a late
  // write hit a reused descriptor number.
  struct EventFd {
    int fd = -1;
    explicit EventFd(int f) : fd(f) {}
    EventFd(const EventFd&) = delete;
    EventFd& operator=(const EventFd&) = delete;
    ~EventFd();
  };
  struct HostPort {
    bool used = false;
    evtchn_port_t guest_port = 0;     // 0: disconnected
    std::shared_ptr<const EventFd> eventfd;
    std::shared_ptr<const HostNotify> notify;
    bool kernel_route = false;  // the route listener programs KVM for it
  };
  struct HostSignal {
    std::shared_ptr<const EventFd> eventfd;
    evtchn_port_t host_port = 0;
    std::shared_ptr<const HostNotify> notify;
  };
  struct Effects : DeliveryEffects {
    std::vector<HostSignal> host;
    std::vector<KernelRoute> routes;
    RouteListener route_listener;  // snapshot taken under the lock when routes change
  };

  bool valid(evtchn_port_t port) const { return port != 0 && port < ports_.size(); }
  bool known_vcpu(std::uint32_t vcpu) const { return vcpu < config_.vcpus; }
  bool is_self(domid_t dom) const { return dom == DOMID_SELF || dom == config_.domid; }
  // What Xen answers for another domain: dom0 exists but refuses (XSM), others do not exist.
  static int other_domain_error(domid_t dom);
  PortTarget target(evtchn_port_t port) const;
  std::expected<evtchn_port_t, int> allocate_locked();
  void free_locked(evtchn_port_t port);
  int close_locked(evtchn_port_t port, Effects& fx);
  void raise_locked(evtchn_port_t port, Effects& fx);
  // The single routing decision for a guest send on an interdomain port.
  void route_send_locked(const Port& port, Effects& fx);
  void signal_host_locked(evtchn_port_t host_port, Effects& fx);
  int switch_to_fifo_locked(evtchn_init_control& op, Effects& fx);
  void finish(Effects& fx);
  // Runs f(Effects&) under the lock, then carries out its effects unlocked.
  template <class F>
  int locked(F&& f) {
    Effects fx;
    int rc;
    {
      std::lock_guard lock(mutex_);
      rc = f(fx);
      if (!fx.routes.empty()) fx.route_listener = route_listener_;
    }
    finish(fx);
    return rc;
  }
  HypercallOutcome dispatch(std::uint32_t cmd, std::uint64_t arg, GuestVirtual& gva);

  const EventChannelsConfig config_;
  GuestMemory& memory_;
  SharedInfoLocator& locator_;
  UpcallSink& sink_;
  mutable std::mutex mutex_;
  std::vector<Port> ports_;                                   // index = port; 0 reserved
  std::vector<std::array<evtchn_port_t, NR_VIRQS>> virqs_;    // per vCPU; 0 = unbound
  std::vector<HostPort> host_ports_;                          // index = host port; 0 reserved
  std::unique_ptr<PortDelivery> two_level_;
  std::unique_ptr<FifoDelivery> fifo_;
  PortDelivery* delivery_ = nullptr;                          // two_level_ or fifo_
  RouteListener route_listener_;
};

}  // namespace kxen
