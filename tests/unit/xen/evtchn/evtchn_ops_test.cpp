#include <xen/errno.h>

#include "evtchn_fakes.hpp"

using namespace kxen;
using namespace kxen::test;

TEST_CASE("alloc_unbound validates dom and fills status", "[evtchn]") {
  EvtchnWorld w;
  evtchn_alloc_unbound op{DOMID_SELF, 0, 0};
  REQUIRE(w.evtchn->alloc_unbound(op) == 0);
  CHECK(op.port == 1);
  // As Xen: a domain that does not exist is -ESRCH; dom0 exists but refuses (XSM) with -EPERM.
  evtchn_alloc_unbound other{5, 0, 0};
  CHECK(w.evtchn->alloc_unbound(other) == -XEN_ESRCH);
  evtchn_alloc_unbound dom0{0, 0, 0};
  CHECK(w.evtchn->alloc_unbound(dom0) == -XEN_EPERM);
  evtchn_alloc_unbound own_id{1, 0, 0};
  CHECK(w.evtchn->alloc_unbound(own_id) == 0);
  evtchn_status st{};
  st.dom = DOMID_SELF;
  st.port = op.port;
  REQUIRE(w.evtchn->status(st) == 0);
  CHECK(st.status == EVTCHNSTAT_unbound);
  CHECK(st.u.unbound.dom == 0);
  st.dom = 7;
  CHECK(w.evtchn->status(st) == -XEN_ESRCH);
  st.dom = 0;
  CHECK(w.evtchn->status(st) == -XEN_EPERM);
  st.dom = DOMID_SELF;
  st.port = 500;
  CHECK(w.evtchn->status(st) == -XEN_EINVAL);
}

TEST_CASE("bind_virq rules: range, global on vcpu 0, vcpu exists, no double bind", "[evtchn]") {
  EvtchnWorld w(2);
  evtchn_bind_virq timer1{VIRQ_TIMER, 1, 0};
  REQUIRE(w.evtchn->bind_virq(timer1) == 0);  // vCPU 1 need not be running
  evtchn_bind_virq again{VIRQ_TIMER, 1, 0};
  CHECK(w.evtchn->bind_virq(again) == -XEN_EEXIST);
  evtchn_bind_virq timer0{VIRQ_TIMER, 0, 0};
  CHECK(w.evtchn->bind_virq(timer0) == 0);
  evtchn_bind_virq bad_vcpu{VIRQ_TIMER, 2, 0};
  CHECK(w.evtchn->bind_virq(bad_vcpu) == -XEN_ENOENT);
  evtchn_bind_virq bad_virq{NR_VIRQS, 0, 0};
  CHECK(w.evtchn->bind_virq(bad_virq) == -XEN_EINVAL);
  evtchn_bind_virq global_on_1{VIRQ_CON_RING, 1, 0};
  CHECK(w.evtchn->bind_virq(global_on_1) == -XEN_EINVAL);
  evtchn_bind_virq global{VIRQ_CON_RING, 0, 0};
  REQUIRE(w.evtchn->bind_virq(global) == 0);

  evtchn_status st{};
  st.dom = DOMID_SELF;
  st.port = timer1.port;
  REQUIRE(w.evtchn->status(st) == 0);
  CHECK(st.status == EVTCHNSTAT_virq);
  CHECK(st.vcpu == 1);
  CHECK(st.u.virq == VIRQ_TIMER);

  CHECK(w.evtchn->raise_virq(1, VIRQ_TIMER));
  CHECK(w.pending_bit(timer1.port));
  CHECK_FALSE(w.pending_bit(timer0.port));
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{1});
  CHECK_FALSE(w.evtchn->raise_virq(0, VIRQ_DEBUG));
  CHECK_FALSE(w.evtchn->raise_virq(5, VIRQ_TIMER));
  CHECK_FALSE(w.evtchn->raise_virq(0, 99));
  // Sending on a VIRQ port is refused; closing frees the VIRQ for a new bind.
  CHECK(w.evtchn->send(timer1.port) == -XEN_EINVAL);
  REQUIRE(w.evtchn->close(timer1.port) == 0);
  CHECK_FALSE(w.evtchn->raise_virq(1, VIRQ_TIMER));
  evtchn_bind_virq rebind{VIRQ_TIMER, 1, 0};
  CHECK(w.evtchn->bind_virq(rebind) == 0);
}

TEST_CASE("global VIRQ follows bind_vcpu; per-vCPU VIRQ and IPI cannot move", "[evtchn]") {
  EvtchnWorld w(2);
  evtchn_bind_virq global{VIRQ_CON_RING, 0, 0};
  REQUIRE(w.evtchn->bind_virq(global) == 0);
  REQUIRE(w.evtchn->bind_vcpu({global.port, 1}) == 0);
  CHECK(w.evtchn->raise_virq(0, VIRQ_CON_RING));
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{1});
  evtchn_bind_virq timer{VIRQ_TIMER, 0, 0};
  REQUIRE(w.evtchn->bind_virq(timer) == 0);
  CHECK(w.evtchn->bind_vcpu({timer.port, 1}) == -XEN_EINVAL);
  const evtchn_port_t ipi = w.ipi(0);
  CHECK(w.evtchn->bind_vcpu({ipi, 1}) == -XEN_EINVAL);
  CHECK(w.evtchn->bind_vcpu({ipi, 9}) == -XEN_ENOENT);
  CHECK(w.evtchn->bind_vcpu({777, 0}) == -XEN_EINVAL);
  CHECK(w.evtchn->bind_vcpu({0, 0}) == -XEN_EINVAL);
}

TEST_CASE("bind_ipi, send, close and port reuse", "[evtchn]") {
  EvtchnWorld w(2);
  evtchn_bind_ipi bad{2, 0};
  CHECK(w.evtchn->bind_ipi(bad) == -XEN_ENOENT);
  const evtchn_port_t a = w.ipi(0), b = w.ipi(1);
  CHECK(a == 1);
  CHECK(b == 2);
  CHECK(w.evtchn->close(a) == 0);
  CHECK(w.evtchn->close(a) == -XEN_EINVAL);
  CHECK(w.evtchn->close(0) == -XEN_EINVAL);
  CHECK(w.evtchn->close(12345) == -XEN_EINVAL);
  CHECK(w.evtchn->send(a) == -XEN_EINVAL);
  CHECK(w.evtchn->send(0) == -XEN_EINVAL);
  CHECK(w.evtchn->send(99999) == -XEN_EINVAL);
  CHECK(w.ipi(1) == a);  // lowest free port first
  CHECK(w.evtchn->unmask(99999) == -XEN_EINVAL);
}

TEST_CASE("loopback interdomain binding delivers both ways and closes to unbound", "[evtchn]") {
  EvtchnWorld w;
  evtchn_alloc_unbound ub{DOMID_SELF, DOMID_SELF, 0};
  REQUIRE(w.evtchn->alloc_unbound(ub) == 0);
  CHECK(w.evtchn->send(ub.port) == 0);  // unbound: silently dropped
  CHECK_FALSE(w.pending_bit(ub.port));
  evtchn_bind_interdomain bi{DOMID_SELF, ub.port, 0};
  REQUIRE(w.evtchn->bind_interdomain(bi) == 0);
  CHECK(w.pending_bit(bi.local_port));  // conservative notification on bind, as Xen
  REQUIRE(w.evtchn->send(bi.local_port) == 0);
  CHECK(w.pending_bit(ub.port));
  evtchn_status st{};
  st.dom = DOMID_SELF;
  st.port = ub.port;
  REQUIRE(w.evtchn->status(st) == 0);
  CHECK(st.status == EVTCHNSTAT_interdomain);
  CHECK(st.u.interdomain.port == bi.local_port);
  CHECK(st.u.interdomain.dom == 1);
  // Binding an already-bound or wrong-peer port fails.
  evtchn_bind_interdomain twice{DOMID_SELF, ub.port, 0};
  CHECK(w.evtchn->bind_interdomain(twice) == -XEN_EINVAL);
  evtchn_alloc_unbound for_dom0{DOMID_SELF, 0, 0};
  REQUIRE(w.evtchn->alloc_unbound(for_dom0) == 0);
  evtchn_bind_interdomain wrong_peer{DOMID_SELF, for_dom0.port, 0};
  CHECK(w.evtchn->bind_interdomain(wrong_peer) == -XEN_EINVAL);
  evtchn_bind_interdomain to_dom0{0, 1, 0};
  CHECK(w.evtchn->bind_interdomain(to_dom0) == -XEN_EINVAL);
  evtchn_bind_interdomain to_other{9, 1, 0};
  CHECK(w.evtchn->bind_interdomain(to_other) == -XEN_ESRCH);
  evtchn_bind_interdomain out_of_range{DOMID_SELF, 5000, 0};
  CHECK(w.evtchn->bind_interdomain(out_of_range) == -XEN_EINVAL);
  REQUIRE(w.evtchn->close(bi.local_port) == 0);
  REQUIRE(w.evtchn->status(st) == 0);
  CHECK(st.status == EVTCHNSTAT_unbound);
}

TEST_CASE("port space is bounded", "[evtchn]") {
  EvtchnWorld w(1, 16);
  for (int i = 1; i < 16; ++i) w.ipi(0);
  evtchn_bind_ipi op{0, 0};
  CHECK(w.evtchn->bind_ipi(op) == -XEN_ENOSPC);
}

TEST_CASE("set_priority needs FIFO; reset closes everything", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t a = w.ipi(0);
  CHECK(w.evtchn->set_priority({a, 3}) == -XEN_ENOSYS);
  CHECK(w.evtchn->set_priority({4000, 3}) == -XEN_EINVAL);
  CHECK(w.evtchn->reset(5) == -XEN_ESRCH);
  CHECK(w.evtchn->reset(0) == -XEN_EPERM);
  REQUIRE(w.evtchn->reset(DOMID_SELF) == 0);
  CHECK(w.evtchn->send(a) == -XEN_EINVAL);
  CHECK(w.ipi(0) == a);
  CHECK(w.evtchn->abi() == EventAbi::two_level);
}
