#include <sys/eventfd.h>
#include <unistd.h>
#include <xen/errno.h>

#include <atomic>
#include <thread>

#include "evtchn_fakes.hpp"

using namespace kxen;
using namespace kxen::test;

namespace {
std::uint64_t drain(int fd) {
  std::uint64_t value = 0;
  if (::read(fd, &value, sizeof value) != sizeof value) return 0;
  return value;
}
}  // namespace

TEST_CASE("host binds a guest-allocated unbound port and both sides notify", "[evtchn]") {
  EvtchnWorld w;
  int calls = 0;
  evtchn_alloc_unbound ub{DOMID_SELF, 0, 0};
  REQUIRE(w.evtchn->alloc_unbound(ub) == 0);
  auto binding = w.evtchn->bind_interdomain_from_host(ub.port, [&](evtchn_port_t) { ++calls; });
  REQUIRE(binding);
  CHECK(binding->guest_port == ub.port);
  CHECK(binding->eventfd >= 0);
  CHECK(drain(binding->eventfd) == 1);  // the conservative notification on bind
  CHECK(calls == 1);

  REQUIRE(w.evtchn->send(ub.port) == 0);
  CHECK(drain(binding->eventfd) == 1);
  CHECK(calls == 2);
  CHECK_FALSE(w.pending_bit(ub.port));

  REQUIRE(w.evtchn->notify_guest(binding->host_port) == 0);
  CHECK(w.pending_bit(ub.port));
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{0});

  evtchn_status st{};
  st.dom = DOMID_SELF;
  st.port = ub.port;
  REQUIRE(w.evtchn->status(st) == 0);
  CHECK(st.status == EVTCHNSTAT_interdomain);
  CHECK(st.u.interdomain.dom == 0);
  CHECK(st.u.interdomain.port == binding->host_port);
}

TEST_CASE("host binding refuses wrong states; closes propagate", "[evtchn]") {
  EvtchnWorld w;
  CHECK(w.evtchn->bind_interdomain_from_host(0).error() == -XEN_EINVAL);
  CHECK(w.evtchn->bind_interdomain_from_host(77).error() == -XEN_EINVAL);
  const evtchn_port_t ipi = w.ipi(0);
  CHECK(w.evtchn->bind_interdomain_from_host(ipi).error() == -XEN_EINVAL);
  evtchn_alloc_unbound self_only{DOMID_SELF, DOMID_SELF, 0};
  REQUIRE(w.evtchn->alloc_unbound(self_only) == 0);
  CHECK(w.evtchn->bind_interdomain_from_host(self_only.port).error() == -XEN_EINVAL);

  auto store = w.evtchn->alloc_unbound_for_guest();
  REQUIRE(store);
  auto binding = w.evtchn->bind_interdomain_from_host(*store);
  REQUIRE(binding);
  CHECK(w.evtchn->bind_interdomain_from_host(*store).error() == -XEN_EINVAL);  // already bound

  // Guest closes its end: the host port stays but is disconnected.
  REQUIRE(w.evtchn->close(*store) == 0);
  CHECK(w.evtchn->notify_guest(binding->host_port) == -XEN_ENOTCONN);
  CHECK(w.evtchn->notify_guest(999) == -XEN_EINVAL);
  CHECK(w.evtchn->close_host_port(binding->host_port) == 0);
  CHECK(w.evtchn->close_host_port(binding->host_port) == -XEN_EINVAL);
  CHECK(w.evtchn->close_host_port(0) == -XEN_EINVAL);
}

TEST_CASE("host close reverts the guest port to unbound for rebinding", "[evtchn]") {
  EvtchnWorld w;
  std::vector<std::pair<evtchn_port_t, bool>> routes;
  w.evtchn->set_route_listener([&](const KernelRoute& r) {
    CHECK(r.kind != KernelRoute::Kind::local);
    routes.emplace_back(r.guest_port, r.kind == KernelRoute::Kind::eventfd);
  });
  auto port = w.evtchn->alloc_unbound_for_guest();
  REQUIRE(port);
  auto first = w.evtchn->bind_interdomain_from_host(*port, {}, true);
  REQUIRE(first);
  REQUIRE(w.evtchn->close_host_port(first->host_port) == 0);
  CHECK(w.evtchn->send(*port) == 0);  // unbound again: dropped
  auto second = w.evtchn->bind_interdomain_from_host(*port, {}, true);
  REQUIRE(second);
  CHECK(second->host_port == first->host_port);  // host port slot reused
  REQUIRE(w.evtchn->close(*port) == 0);  // the guest closes its end: the kernel route goes too
  CHECK(routes == std::vector<std::pair<evtchn_port_t, bool>>{
                      {*port, true}, {*port, false}, {*port, true}, {*port, false}});
}

TEST_CASE("only kernel-routed host ports reach the route listener", "[evtchn]") {
  EvtchnWorld w;
  int routes = 0;
  w.evtchn->set_route_listener([&](const KernelRoute&) { ++routes; });
  auto port = w.evtchn->alloc_unbound_for_guest();
  REQUIRE(port);
  auto binding = w.evtchn->bind_interdomain_from_host(*port);  // served in user space (XenStore)
  REQUIRE(binding);
  REQUIRE(w.evtchn->close(*port) == 0);
  REQUIRE(w.evtchn->close_host_port(binding->host_port) == 0);
  CHECK(routes == 0);
}

TEST_CASE("IPIs are routed in the kernel while the 2-level ABI is active, and unrouted on close", "[evtchn]") {
  EvtchnWorld w;
  std::vector<KernelRoute> routes;
  w.evtchn->set_route_listener([&](const KernelRoute& r) { routes.push_back(r); });
  const evtchn_port_t on_1 = w.ipi(1);
  const evtchn_port_t on_0 = w.ipi(0);
  REQUIRE(routes.size() == 2);
  CHECK((routes[0].guest_port == on_1 && routes[0].kind == KernelRoute::Kind::local && routes[0].vcpu == 1));
  CHECK((routes[1].guest_port == on_0 && routes[1].kind == KernelRoute::Kind::local && routes[1].vcpu == 0));
  CHECK(w.evtchn->bind_vcpu({on_1, 0}) == -XEN_EINVAL);  // an IPI's vCPU never changes, nor its route
  REQUIRE(w.evtchn->close(on_1) == 0);
  REQUIRE(routes.size() == 3);
  CHECK((routes[2].guest_port == on_1 && routes[2].kind == KernelRoute::Kind::none));
  // Still served in user space when the kernel did not take it (an unrouted send exits).
  CHECK(w.evtchn->send(on_0) == 0);
  CHECK(w.pending_bit(on_0));
}

TEST_CASE("an IPI bound before any route listener is never unrouted", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t port = w.ipi(1);  // the hypercall-page transport has no listener at all
  std::vector<KernelRoute> routes;
  w.evtchn->set_route_listener([&](const KernelRoute& r) { routes.push_back(r); });
  REQUIRE(w.evtchn->close(port) == 0);
  CHECK(routes.empty());
}

TEST_CASE("the switch to FIFO takes IPIs back from the kernel; EVTCHNOP_reset gives them again", "[evtchn]") {
  EvtchnWorld w;
  std::vector<KernelRoute> routes;
  w.evtchn->set_route_listener([&](const KernelRoute& r) { routes.push_back(r); });
  const evtchn_port_t routed = w.ipi(1);
  evtchn_init_control init{0x40, 0, 0, 0, {}};
  REQUIRE(w.evtchn->init_control(init) == 0);
  REQUIRE(routes.size() == 2);
  CHECK((routes[1].guest_port == routed && routes[1].kind == KernelRoute::Kind::none));
  init.vcpu = 1;
  REQUIRE(w.evtchn->init_control(init) == 0);  // FIFO already: nothing more to take back
  const evtchn_port_t under_fifo = w.ipi(0);
  REQUIRE(w.evtchn->close(under_fifo) == 0);
  REQUIRE(w.evtchn->close(routed) == 0);
  CHECK(routes.size() == 2);  // neither was routed under FIFO, so neither is unrouted
  REQUIRE(w.evtchn->reset(DOMID_SELF) == 0);
  REQUIRE(w.evtchn->abi() == EventAbi::two_level);
  const evtchn_port_t again = w.ipi(1);
  REQUIRE(routes.size() == 3);
  CHECK((routes[2].guest_port == again && routes[2].kind == KernelRoute::Kind::local && routes[2].vcpu == 1));
}

TEST_CASE("a backend may call back into EventChannels from its notification", "[evtchn]") {
  EvtchnWorld w;
  auto port = w.evtchn->alloc_unbound_for_guest();
  REQUIRE(port);
  evtchn_port_t host = 0;
  int echoes = 0;
  auto binding = w.evtchn->bind_interdomain_from_host(*port, [&](evtchn_port_t h) {
    if (host != 0 && w.evtchn->notify_guest(h) == 0) ++echoes;  // would deadlock if called under the lock
  });
  REQUIRE(binding);
  host = binding->host_port;
  REQUIRE(w.evtchn->send(*port) == 0);
  CHECK(echoes == 1);
  CHECK(w.pending_bit(*port));
}

TEST_CASE("EVTCHNOP_reset disconnects host bindings", "[evtchn]") {
  EvtchnWorld w;
  auto port = w.evtchn->alloc_unbound_for_guest();
  auto binding = w.evtchn->bind_interdomain_from_host(*port);
  REQUIRE(binding);
  REQUIRE(w.evtchn->reset(DOMID_SELF) == 0);
  CHECK(w.evtchn->notify_guest(binding->host_port) == -XEN_ENOTCONN);
}

TEST_CASE("concurrent guest sends, backend notifies and rebinding stay consistent", "[evtchn][threads]") {
  EvtchnWorld w(2);
  auto port = w.evtchn->alloc_unbound_for_guest();
  REQUIRE(port);
  auto binding = w.evtchn->bind_interdomain_from_host(*port);
  REQUIRE(binding);
  const evtchn_port_t ipi = w.ipi(1);
  std::atomic<bool> stop{false};
  std::atomic<int> send_failures{0};  // Catch2 assertions are not thread-safe: count, check later
  std::atomic_ref<xen_ulong_t> pending0(w.shinfo().evtchn_pending[0]);
  std::thread guest([&] {
    while (!stop) {
      if (w.evtchn->send(*port) != 0 || w.evtchn->send(ipi) != 0) ++send_failures;
      pending0.store(0);  // the guest consuming events concurrently
    }
  });
  for (int i = 0; i < 2000; ++i) {
    const int rc = w.evtchn->notify_guest(binding->host_port);
    CHECK((rc == 0 || rc == -XEN_ENOTCONN));
    if (i % 100 == 0) CHECK(w.evtchn->bind_vcpu({*port, static_cast<std::uint32_t>(i / 100 % 2)}) == 0);
  }
  stop = true;
  guest.join();
  CHECK(send_failures == 0);
  CHECK(w.evtchn->close_host_port(binding->host_port) == 0);
}
