// Regressions: state kxen records must match what KVM accepted, and resets must reach KVM.
#include "platform_fakes.hpp"

namespace kxen::test {

TEST_CASE("EVTCHNOP_reset drops KVM's timer port", "[platform]") {
  PlatformWorld w;
  evtchn_bind_virq op{VIRQ_TIMER, 1, 0};
  REQUIRE(w.memory.write_obj(kArg, op));
  REQUIRE(w.evtchn_op(EVTCHNOP_bind_virq, kArg) == 0);
  const evtchn_port_t timer = w.memory.read_obj<evtchn_bind_virq>(kArg)->port;
  REQUIRE(w.memory.write_obj(kArg, evtchn_reset{DOMID_SELF}));
  REQUIRE(w.evtchn_op(EVTCHNOP_reset, kArg) == 0);
  CHECK(w.accel.timer_ports == std::vector<RecordingAccel::Pair>{{1, timer}, {1, 0}});
}

TEST_CASE("a vcpu_info registration KVM refused can be retried", "[platform]") {
  PlatformWorld w;
  vcpu_register_vcpu_info op{};
  op.mfn = 0x30;
  REQUIRE(w.memory.write_obj(kArg, op));
  w.accel.ok = false;
  REQUIRE(w.vcpu_op(VCPUOP_register_vcpu_info, 0, kArg) == -XEN_EINVAL);
  CHECK_FALSE(w.platform->vcpu_info_gpa(0));  // KVM does not use it, so neither may user space
  w.accel.ok = true;
  CHECK(w.vcpu_op(VCPUOP_register_vcpu_info, 0, kArg) == 0);
}

TEST_CASE("a shared_info KVM refused is not recorded", "[platform]") {
  PlatformWorld w;
  w.accel.ok = false;
  REQUIRE(w.map_shared_info(kShinfoPfn) == -XEN_EINVAL);
  CHECK_FALSE(w.platform->shared_info_gpa());
}

TEST_CASE("maximum_gpfn with an empty memory map", "[platform]") {
  GuestMemory memory;
  RecordingKicker kicker;
  TranslatingGva gva(memory);
  PlatformConfig config;
  SampledClock clock([] { return std::uint64_t{0}; });
  XenPlatform p(config, memory, nullptr, kicker, clock);
  HypercallRequest r;
  r.args[0] = XENMEM_maximum_gpfn;
  CHECK(p.memory_op(r, gva).result >= 0);
}

}  // namespace kxen::test
