// event_channel_op through the platform (timer-port tracking) and KvmTwoLevelDelivery.
#include "platform_fakes.hpp"

#include "../evtchn/evtchn_fakes.hpp"
#include "xen/platform/kvm_two_level.hpp"

namespace kxen::test {
namespace {

std::int64_t close_port(PlatformWorld& w, evtchn_port_t port) {
  REQUIRE(w.memory.write_obj(kArg, evtchn_close{port}));
  return w.evtchn_op(EVTCHNOP_close, kArg);
}

// An IPI on `vcpu`, unmasked in shared_info, sent once through the hypercall.
evtchn_port_t send_unmasked_ipi(PlatformWorld& w, std::uint32_t vcpu) {
  evtchn_bind_ipi op{vcpu, 0};
  REQUIRE(w.memory.write_obj(kArg, op));
  REQUIRE(w.evtchn_op(EVTCHNOP_bind_ipi, kArg) == 0);
  const evtchn_port_t port = w.memory.read_obj<evtchn_bind_ipi>(kArg)->port;
  w.shinfo().evtchn_mask[port / 64] &= ~(xen_ulong_t{1} << (port % 64));
  REQUIRE(w.memory.write_obj(kArg, evtchn_send{port}));
  REQUIRE(w.evtchn_op(EVTCHNOP_send, kArg) == 0);
  return port;
}

bool pending(PlatformWorld& w, evtchn_port_t port) { return (w.shinfo().evtchn_pending[port / 64] >> (port % 64)) & 1; }

}  // namespace

TEST_CASE("the VIRQ_TIMER port is followed into KVM and dropped on close", "[platform]") {
  PlatformWorld w;
  const evtchn_port_t timer = w.bind_virq(VIRQ_TIMER, 1);
  CHECK(w.accel.timer_ports == std::vector<RecordingAccel::Pair>{{1, timer}});
  const evtchn_port_t debug = w.bind_virq(VIRQ_DEBUG, 0);
  CHECK(close_port(w, debug) == 0);
  CHECK(w.accel.timer_ports.size() == 1);  // other VIRQs never reach KVM's timer
  CHECK(close_port(w, timer) == 0);
  CHECK(w.accel.timer_ports == std::vector<RecordingAccel::Pair>{{1, timer}, {1, 0}});
  CHECK(close_port(w, timer) != 0);  // already closed: nothing more to drop
  CHECK(w.accel.timer_ports.size() == 2);
}

namespace {
// A guest that rewrites its evtchn_close between the hypervisor's reads of it.
class RewritingGva final : public GuestVirtual {
 public:
  RewritingGva(GuestMemory& memory, evtchn_port_t later) : memory_(memory), later_(later) {}
  bool read(std::uint64_t gva, std::span<std::byte> out) override {
    const bool ok = memory_.read(gva, out);
    if (gva == kArg) memory_.write_obj(kArg, evtchn_close{later_});
    return ok;
  }
  bool write(std::uint64_t gva, std::span<const std::byte> in) override { return memory_.write(gva, in); }

 private:
  GuestMemory& memory_;
  evtchn_port_t later_;
};
}  // namespace

TEST_CASE("EVTCHNOP_close reads its port once: KVM forgets the timer port that is closed", "[platform]") {
  PlatformWorld w;
  const evtchn_port_t timer = w.bind_virq(VIRQ_TIMER, 1);
  const evtchn_port_t debug = w.bind_virq(VIRQ_DEBUG, 0);
  REQUIRE(w.memory.write_obj(kArg, evtchn_close{timer}));
  RewritingGva racing(w.memory, debug);
  HypercallRequest r;
  r.args = {EVTCHNOP_close, kArg, 0, 0, 0, 0};
  CHECK(w.platform->event_channel_op(r, racing).result == 0);
  CHECK(w.accel.timer_ports == std::vector<RecordingAccel::Pair>{{1, timer}, {1, 0}});
  CHECK(close_port(w, debug) == 0);   // still open: the rewrite did not close it
  CHECK(close_port(w, timer) != 0);   // closed by the call above
}

TEST_CASE("a failed VIRQ_TIMER bind does not reach KVM", "[platform]") {
  PlatformWorld w;
  evtchn_bind_virq op{VIRQ_TIMER, 2, 0};  // no vCPU 2
  REQUIRE(w.memory.write_obj(kArg, op));
  CHECK(w.evtchn_op(EVTCHNOP_bind_virq, kArg) != 0);
  CHECK(w.evtchn_op(EVTCHNOP_bind_virq, kBadPointer) == -XEN_EFAULT);
  CHECK(w.accel.timer_ports.empty());
}

TEST_CASE("timer VIRQs without KVM acceleration bind normally", "[platform]") {
  PlatformWorld w(false);
  const evtchn_port_t timer = w.bind_virq(VIRQ_TIMER, 0);
  CHECK(timer != 0);
  CHECK(close_port(w, timer) == 0);
  CHECK(w.accel.timer_ports.empty());
}

TEST_CASE("with KVM, sends raise ports through send_2level", "[platform]") {
  PlatformWorld w;
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  const evtchn_port_t port = send_unmasked_ipi(w, 1);
  CHECK(w.accel.sends == std::vector<RecordingAccel::Pair>{{port, 1}});
  CHECK_FALSE(pending(w, port));  // the fake kernel set nothing: user space did not either
  CHECK(w.kicker.kicks.empty());
}

TEST_CASE("when KVM cannot send, user space raises the port and kicks", "[platform]") {
  PlatformWorld w;
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  w.accel.ok = false;
  const evtchn_port_t port = send_unmasked_ipi(w, 1);
  CHECK(w.accel.sends.size() == 1);
  CHECK(pending(w, port));
  CHECK(w.shinfo().vcpu_info[1].evtchn_upcall_pending == 1);
  CHECK(w.kicker.kicks == std::vector<std::uint32_t>{1});
}

TEST_CASE("KvmTwoLevelDelivery reports newly pending only on the 0 -> 1 edge", "[platform]") {
  GuestMemory memory;
  REQUIRE_FALSE(memory.add_ram(0, kRamTop));
  FakeLocator locator;
  locator.shinfo = kShinfo;
  RecordingAccel accel;
  KvmTwoLevelDelivery delivery(memory, locator, accel);
  CHECK(delivery.abi() == EventAbi::two_level);
  DeliveryEffects fx;

  auto r = delivery.set_pending(PortTarget{5, 0}, fx);
  CHECK(r.stored);
  CHECK(r.newly_pending);
  CHECK_FALSE(delivery.is_pending(5));  // KVM's job, and the fake does nothing

  accel.ok = false;
  r = delivery.set_pending(PortTarget{5, 0}, fx);
  CHECK(r.newly_pending);
  CHECK(delivery.is_pending(5));  // the fallback wrote the bit itself

  accel.ok = true;
  r = delivery.set_pending(PortTarget{5, 0}, fx);
  CHECK(r.stored);
  CHECK_FALSE(r.newly_pending);
  CHECK(accel.sends == std::vector<RecordingAccel::Pair>{{5, 0}, {5, 0}, {5, 0}});
  delivery.clear_pending(5);
  CHECK_FALSE(delivery.is_pending(5));
}

}  // namespace kxen::test
