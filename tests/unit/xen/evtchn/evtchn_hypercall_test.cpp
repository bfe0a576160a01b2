#include <xen/errno.h>

#include "evtchn_fakes.hpp"

using namespace kxen;
using namespace kxen::test;

namespace {
constexpr Gpa kArg = 0x30000;

HypercallRequest op(std::uint32_t cmd, std::uint64_t arg = kArg) {
  HypercallRequest r;
  r.nr = __HYPERVISOR_event_channel_op;
  r.args[0] = cmd;
  r.args[1] = arg;
  return r;
}
}  // namespace

TEST_CASE("event_channel_op copies in, acts and copies out", "[evtchn]") {
  EvtchnWorld w;
  IdentityGva gva(w.memory);
  REQUIRE(w.memory.write_obj(kArg, evtchn_bind_ipi{0, 0xdead}));
  auto out = w.evtchn->hypercall(op(EVTCHNOP_bind_ipi), gva);
  CHECK(out.result == 0);
  CHECK(out.action == VcpuAction::resume);
  CHECK(w.memory.read_obj<evtchn_bind_ipi>(kArg)->port == 1);

  REQUIRE(w.memory.write_obj(kArg, evtchn_send{1}));
  CHECK(w.evtchn->hypercall(op(EVTCHNOP_send), gva).result == 0);
  CHECK(w.pending_bit(1));

  evtchn_status st{};
  st.dom = DOMID_SELF;
  st.port = 1;
  REQUIRE(w.memory.write_obj(kArg, st));
  CHECK(w.evtchn->hypercall(op(EVTCHNOP_status), gva).result == 0);
  CHECK(w.memory.read_obj<evtchn_status>(kArg)->status == EVTCHNSTAT_ipi);
}

TEST_CASE("event_channel_op errors: bad pointer, unknown op, failed op leaves struct", "[evtchn]") {
  EvtchnWorld w;
  IdentityGva gva(w.memory);
  CHECK(w.evtchn->hypercall(op(EVTCHNOP_bind_ipi, Gpa{1} << 45), gva).result == -XEN_EFAULT);
  CHECK(w.evtchn->hypercall(op(EVTCHNOP_bind_ipi, (1 << 20) - 4), gva).result == -XEN_EFAULT);
  CHECK(w.evtchn->hypercall(op(99), gva).result == -XEN_ENOSYS);
  CHECK(w.evtchn->hypercall(op(EVTCHNOP_bind_pirq), gva).result == -XEN_ENOSYS);
  auto r = op(0);
  r.args[0] = std::uint64_t{1} << 40;
  CHECK(w.evtchn->hypercall(r, gva).result == -XEN_ENOSYS);
  REQUIRE(w.memory.write_obj(kArg, evtchn_bind_virq{NR_VIRQS, 0, 0x1234}));
  CHECK(w.evtchn->hypercall(op(EVTCHNOP_bind_virq), gva).result == -XEN_EINVAL);
  CHECK(w.memory.read_obj<evtchn_bind_virq>(kArg)->port == 0x1234);
}

TEST_CASE("event_channel_op dispatches every supported op", "[evtchn]") {
  EvtchnWorld w;
  IdentityGva gva(w.memory);
  auto call = [&](std::uint32_t cmd, auto value) {
    REQUIRE(w.memory.write_obj(kArg, value));
    return w.evtchn->hypercall(op(cmd), gva).result;
  };
  CHECK(call(EVTCHNOP_alloc_unbound, evtchn_alloc_unbound{DOMID_SELF, DOMID_SELF, 0}) == 0);
  CHECK(w.memory.read_obj<evtchn_alloc_unbound>(kArg)->port == 1);
  CHECK(call(EVTCHNOP_bind_interdomain, evtchn_bind_interdomain{DOMID_SELF, 1, 0}) == 0);
  CHECK(w.memory.read_obj<evtchn_bind_interdomain>(kArg)->local_port == 2);
  CHECK(call(EVTCHNOP_bind_virq, evtchn_bind_virq{VIRQ_TIMER, 1, 0}) == 0);
  CHECK(call(EVTCHNOP_bind_vcpu, evtchn_bind_vcpu{2, 1}) == 0);
  CHECK(call(EVTCHNOP_unmask, evtchn_unmask{2}) == 0);
  CHECK(call(EVTCHNOP_set_priority, evtchn_set_priority{2, 1}) == -XEN_ENOSYS);
  CHECK(call(EVTCHNOP_expand_array, evtchn_expand_array{0x40}) == -XEN_EOPNOTSUPP);
  CHECK(call(EVTCHNOP_close, evtchn_close{2}) == 0);
  CHECK(call(EVTCHNOP_init_control, evtchn_init_control{0x40, 0, 0, 0, {}}) == 0);
  CHECK(w.memory.read_obj<evtchn_init_control>(kArg)->link_bits == EVTCHN_FIFO_LINK_BITS);
  CHECK(w.evtchn->abi() == EventAbi::fifo);
  CHECK(call(EVTCHNOP_reset, evtchn_reset{DOMID_SELF}) == 0);
  CHECK(w.evtchn->abi() == EventAbi::two_level);
}

TEST_CASE("EVTCHNOP_reset closes a budget of ports per invocation, then continues", "[evtchn][budget]") {
  EvtchnWorld w;
  IdentityGva gva(w.memory);
  constexpr int kPorts = 600;
  for (int i = 0; i < kPorts; ++i) {
    evtchn_bind_ipi bind{0, 0};
    REQUIRE(w.evtchn->bind_ipi(bind) == 0);
  }
  auto bound = [&] {
    int n = 0;
    for (evtchn_port_t p = 1; p <= kPorts; ++p) {
      evtchn_status st{};
      st.dom = DOMID_SELF;
      st.port = p;
      if (w.evtchn->status(st) == 0 && st.status != EVTCHNSTAT_closed) ++n;
    }
    return n;
  };
  REQUIRE(w.memory.write_obj(kArg, evtchn_reset{DOMID_SELF}));
  auto request = op(EVTCHNOP_reset);
  int invocations = 1;
  auto out = w.evtchn->hypercall(request, gva);
  REQUIRE(out.action == VcpuAction::restart);
  CHECK(out.restart_args == request.args);  // re-issued as it was: the closed ports are free now
  CHECK(bound() == kPorts - static_cast<int>(kHypercallWorkBudget));
  while (out.action == VcpuAction::restart && invocations < 10) {
    out = w.evtchn->hypercall(request, gva);
    ++invocations;
  }
  CHECK(out.result == 0);
  CHECK(invocations == 3);
  CHECK(bound() == 0);
}
