// FIFO event channels under KVM's Xen support: --evtchn-abi, the timer port kept away from KVM,
// upcall injection per callback style, and pollers woken for masked ports.
#include "platform_fakes.hpp"

#include <xen/hvm/params.h>

#include <tuple>

namespace kxen::test {
namespace {

constexpr std::uint8_t kVector = 0xf3;

// A guest that switched to FIFO on both vCPUs (control blocks 128 bytes apart), one event page.
void switch_to_fifo(PlatformWorld& w) {
  REQUIRE(w.init_control(0, 0) == 0);
  REQUIRE(w.init_control(1, 128) == 0);
  REQUIRE(w.memory.write_obj(kArg, evtchn_expand_array{kEventArrayPfn}));
  REQUIRE(w.evtchn_op(EVTCHNOP_expand_array, kArg) == 0);
  REQUIRE(w.platform->event_channels().abi() == EventAbi::fifo);
}

evtchn_port_t bind_ipi(PlatformWorld& w, std::uint32_t vcpu) {
  REQUIRE(w.memory.write_obj(kArg, evtchn_bind_ipi{vcpu, 0}));
  REQUIRE(w.evtchn_op(EVTCHNOP_bind_ipi, kArg) == 0);
  return w.memory.read_obj<evtchn_bind_ipi>(kArg)->port;
}

void send(PlatformWorld& w, evtchn_port_t port) {
  REQUIRE(w.memory.write_obj(kArg, evtchn_send{port}));
  REQUIRE(w.evtchn_op(EVTCHNOP_send, kArg) == 0);
}

void mask_fifo_port(PlatformWorld& w, evtchn_port_t port) {
  const Gpa word = (kEventArrayPfn << kPageShift) + port * sizeof(event_word_t);
  REQUIRE(w.memory.write_obj<event_word_t>(word, 1u << EVTCHN_FIFO_MASKED));
}

std::int64_t set_upcall_vector(PlatformWorld& w, std::uint32_t vcpu, std::uint8_t vector) {
  REQUIRE(w.memory.write_obj(kArg, xen_hvm_evtchn_upcall_vector{vcpu, vector}));
  return w.hvm_op(HVMOP_set_evtchn_upcall_vector, kArg);
}

std::int64_t set_callback_vector(PlatformWorld& w, std::uint8_t vector) {
  xen_hvm_param op{};
  op.domid = DOMID_SELF;
  op.index = HVM_PARAM_CALLBACK_IRQ;
  op.value = (std::uint64_t{2} << 56) | vector;
  REQUIRE(w.memory.write_obj(kArg, op));
  return w.hvm_op(HVMOP_set_param, kArg);
}

}  // namespace

TEST_CASE("--evtchn-abi decides whether EVTCHNOP_init_control is served", "[platform]") {
  // (with KVM, request, init_control result)
  const auto [accel, request, result] = GENERATE(table<bool, EvtchnAbiRequest, std::int64_t>({
      {true, EvtchnAbiRequest::automatic, -XEN_ENOSYS},
      {true, EvtchnAbiRequest::two_level, -XEN_ENOSYS},
      {true, EvtchnAbiRequest::fifo, 0},
      {false, EvtchnAbiRequest::automatic, 0},
      {false, EvtchnAbiRequest::two_level, -XEN_ENOSYS},
      {false, EvtchnAbiRequest::fifo, 0},
  }));
  PlatformWorld w(accel, 2, request);
  CHECK(w.init_control() == result);
  CHECK(w.platform->event_channels().abi() == (result == 0 ? EventAbi::fifo : EventAbi::two_level));
}

TEST_CASE("under FIFO the VIRQ_TIMER port never reaches KVM's 2-level timer", "[platform]") {
  PlatformWorld w(true, 2, EvtchnAbiRequest::fifo);
  // Bound before the switch (as a guest may on its boot vCPU): KVM's timer follows it...
  const evtchn_port_t early = w.bind_virq(VIRQ_TIMER, 0);
  REQUIRE(w.accel.timer_ports == std::vector<RecordingAccel::Pair>{{0, early}});
  switch_to_fifo(w);
  // ...until init_control, which takes it back; timers bound later (Linux's APs) stay in user space.
  CHECK(w.accel.timer_ports == std::vector<RecordingAccel::Pair>{{0, early}, {0, 0}});
  w.bind_virq(VIRQ_TIMER, 1);
  CHECK(w.accel.timer_ports.size() == 2);

  // EVTCHNOP_reset returns to 2-level, where KVM raises the timer port again.
  REQUIRE(w.memory.write_obj(kArg, evtchn_reset{DOMID_SELF}));
  REQUIRE(w.evtchn_op(EVTCHNOP_reset, kArg) == 0);
  REQUIRE(w.platform->event_channels().abi() == EventAbi::two_level);
  const evtchn_port_t again = w.bind_virq(VIRQ_TIMER, 1);
  CHECK(w.accel.timer_ports.back() == RecordingAccel::Pair{1, again});
}

TEST_CASE("a FIFO upcall reaches the vCPU the way its callback was registered", "[platform]") {
  PlatformWorld w(true, 2, EvtchnAbiRequest::fifo);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  REQUIRE(set_callback_vector(w, kVector) == 0);      // vCPU 0: the global vector, KVM checks the flag
  REQUIRE(set_upcall_vector(w, 1, kVector - 1) == 0);  // vCPU 1: its own LAPIC vector
  switch_to_fifo(w);

  send(w, bind_ipi(w, 0));
  CHECK(w.shinfo().vcpu_info[0].evtchn_upcall_pending == 1);
  CHECK(w.kicker.kicks == std::vector<std::uint32_t>{0});  // out of KVM_RUN: KVM then injects
  CHECK(w.accel.injected.empty());

  send(w, bind_ipi(w, 1));
  CHECK(w.shinfo().vcpu_info[1].evtchn_upcall_pending == 1);
  CHECK(w.accel.injected == std::vector<RecordingAccel::Pair>{{1, kVector - 1}});
  CHECK(w.kicker.kicks.size() == 1);
  CHECK(w.accel.sends.empty());  // KVM_XEN_HVM_EVTCHN_SEND would write 2-level bits
}

TEST_CASE("a per-vCPU upcall KVM refuses falls back to kicking the vCPU", "[platform]") {
  PlatformWorld w(true, 2, EvtchnAbiRequest::fifo);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  REQUIRE(set_upcall_vector(w, 1, kVector) == 0);
  switch_to_fifo(w);
  w.accel.ok = false;
  send(w, bind_ipi(w, 1));
  CHECK(w.accel.injected.size() == 1);
  CHECK(w.kicker.kicks == std::vector<std::uint32_t>{1});
}

TEST_CASE("a masked FIFO port raised for a poller pulls its vCPU out of KVM", "[platform]") {
  const bool accel = GENERATE(true, false);
  PlatformWorld w(accel, 2, EvtchnAbiRequest::fifo);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  switch_to_fifo(w);
  // Linux's spinlock kicker: an IPI port bound to the waiting vCPU, masked, SCHEDOP_poll on it.
  const evtchn_port_t kicker = bind_ipi(w, 1);
  mask_fifo_port(w, kicker);
  send(w, kicker);
  CHECK(w.shinfo().vcpu_info[1].evtchn_upcall_pending == 0);  // masked: no upcall
  CHECK(w.accel.injected.empty());
  // KVM's in-kernel poll sees 2-level bits only; user space's own poll hears port_raised().
  CHECK(w.kicker.kicks == (accel ? std::vector<std::uint32_t>{1} : std::vector<std::uint32_t>{}));
  send(w, kicker);  // already pending: no second wake-up
  CHECK(w.kicker.kicks.size() == (accel ? 1u : 0u));
}

}  // namespace kxen::test
