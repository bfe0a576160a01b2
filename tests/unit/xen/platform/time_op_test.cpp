// Xen time through the platform: pvclock and wallclock kxen publishes without KVM, timer
// hypercalls in user space raising VIRQ_TIMER, runstate info and areas.
#include "platform_fakes.hpp"

#include <chrono>
#include <ctime>
#include <thread>

namespace kxen::test {
namespace {
using namespace std::chrono_literals;

constexpr std::uint64_t kInfoPfn = 0x30;

evtchn_port_t bind_timer(PlatformWorld& w, std::uint32_t vcpu) {
  evtchn_bind_virq op{VIRQ_TIMER, vcpu, 0};
  REQUIRE(w.memory.write_obj(kArg, op));
  REQUIRE(w.evtchn_op(EVTCHNOP_bind_virq, kArg) == 0);
  return w.memory.read_obj<evtchn_bind_virq>(kArg)->port;
}

bool pending(PlatformWorld& w, evtchn_port_t port) { return (w.shinfo().evtchn_pending[port / 64] >> (port % 64)) & 1; }

// The timer thread raises the port a moment after the guest time passes the deadline.
bool becomes_pending(PlatformWorld& w, evtchn_port_t port) {
  for (int i = 0; i < 200 && !pending(w, port); ++i) std::this_thread::sleep_for(5ms);
  return pending(w, port);
}

std::int64_t singleshot(PlatformWorld& w, std::uint32_t vcpu, std::uint64_t deadline, std::uint32_t flags) {
  return w.vcpu_op_with(VCPUOP_set_singleshot_timer, vcpu, vcpu_set_singleshot_timer{deadline, flags}, kBuf);
}

std::int64_t periodic(PlatformWorld& w, std::uint32_t vcpu, std::uint64_t period) {
  return w.vcpu_op_with(VCPUOP_set_periodic_timer, vcpu, vcpu_set_periodic_timer{period}, kBuf);
}

std::int64_t set_timer_op(PlatformWorld& w, std::uint64_t a0, std::uint64_t a1 = 0, bool long_mode = true) {
  HypercallRequest r;
  r.vcpu = w.caller;
  r.long_mode = long_mode;
  r.args = {a0, a1, 0, 0, 0, 0};
  return w.platform->set_timer_op(r).result;
}

}  // namespace

TEST_CASE("without KVM, mapping shared_info publishes the pvclock and the wallclock", "[platform][time]") {
  PlatformWorld w(false);
  w.ticks = kFakeTscZero + 2'000'000'000;  // 2 s after boot
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  for (std::uint32_t vcpu : {0u, 1u}) {
    const vcpu_time_info& t = w.shinfo().vcpu_info[vcpu].time;
    CHECK(t.version % 2 == 0);
    CHECK(t.version != 0);
    CHECK(t.tsc_to_system_mul == 0x80000000u);
    CHECK(t.tsc_shift == 1);
    CHECK(t.tsc_timestamp == kFakeTscZero);
    CHECK(t.flags == XEN_PVCLOCK_TSC_STABLE_BIT);
  }
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  CHECK(w.shinfo().wc_version % 2 == 0);
  CHECK(w.shinfo().wc_sec + 2 <= now + 1);
  CHECK(w.shinfo().wc_sec + 2 + 1 >= now);
  CHECK(w.shinfo().wc_sec_hi == 0u);
}

TEST_CASE("with KVM, kxen writes neither pvclock nor wallclock", "[platform][time]") {
  PlatformWorld w;
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  CHECK(w.shinfo().vcpu_info[0].time.version == 0u);
  CHECK(w.shinfo().vcpu_info[0].time.tsc_to_system_mul == 0u);
  CHECK(w.shinfo().wc_version == 0u);
}

TEST_CASE("the pvclock follows vcpu_info when it moves and goes to a registered time area", "[platform][time]") {
  PlatformWorld w(false);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  w.shinfo().vcpu_info[1].time.tsc_to_system_mul = 0;  // the guest scribbles on the old slot
  REQUIRE(w.vcpu_op_with(VCPUOP_register_vcpu_info, 1, vcpu_register_vcpu_info{kInfoPfn, 0x40, 0}) == 0);
  auto moved = w.memory.read_obj<vcpu_info>((kInfoPfn << kPageShift) + 0x40);
  REQUIRE(moved);
  CHECK(moved->time.tsc_to_system_mul == 0x80000000u);
  CHECK(moved->time.version % 2 == 0);
  // VCPUOP_register_vcpu_time_memory_area: a second copy, 4-byte aligned.
  REQUIRE(w.memory.write_obj(kArg, std::uint64_t{kBuf + 0x100}));
  CHECK(w.vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg) == 0);
  auto area = w.memory.read_obj<vcpu_time_info>(kBuf + 0x100);
  REQUIRE(area);
  CHECK(area->tsc_to_system_mul == 0x80000000u);
  CHECK(area->version == 2u);
  REQUIRE(w.memory.write_obj(kArg, std::uint64_t{kBuf + 0x202}));
  CHECK(w.vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg) == -XEN_EINVAL);
}

TEST_CASE("singleshot timer: Xen's errors and a past deadline firing at once", "[platform][time]") {
  PlatformWorld w(false);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  const evtchn_port_t port = bind_timer(w, 0);
  w.ticks = kFakeTscZero + 50'000'000;
  CHECK(singleshot(w, 1, 60'000'000, 0) == -XEN_EINVAL);  // not the calling vCPU
  CHECK(singleshot(w, 0, 10'000'000, VCPU_SSHOTTMR_future) == -XEN_ETIME);
  CHECK(w.vcpu_op(VCPUOP_set_singleshot_timer, 0, kBadPointer) == -XEN_EFAULT);
  CHECK(singleshot(w, 0, 60'000'000, VCPU_SSHOTTMR_future) == 0);
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(pending(w, port));  // guest time has not reached it
  CHECK(w.vcpu_op(VCPUOP_stop_singleshot_timer, 0, 0) == 0);
  w.ticks = kFakeTscZero + 70'000'000;
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(pending(w, port));  // stopped
  CHECK(singleshot(w, 0, 10'000'000, 0) == 0);  // past, no flag: fires now
  CHECK(becomes_pending(w, port));
}

TEST_CASE("a timer for another vCPU raises that vCPU's VIRQ_TIMER", "[platform][time]") {
  PlatformWorld w(false);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  bind_timer(w, 0);
  const evtchn_port_t port1 = bind_timer(w, 1);
  w.caller = 1;
  CHECK(singleshot(w, 1, 0, 0) == 0);
  CHECK(becomes_pending(w, port1));
}

TEST_CASE("set_timer_op: absolute deadline, 0 cancels, huge timeouts fire in 100 ms", "[platform][time]") {
  PlatformWorld w(false);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  const evtchn_port_t port = bind_timer(w, 0);
  w.ticks = kFakeTscZero + 1'000'000'000;
  CHECK(set_timer_op(w, 1'010'000'000) == 0);
  CHECK(set_timer_op(w, 0) == 0);
  w.ticks += 50'000'000;
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(pending(w, port));
  // A 32-bit caller's low and high halves: 0x1'0000'0000 ns, 30 ms ahead (the timer thread
  // waits that long in host time before it looks at the fake clock again).
  w.ticks = kFakeTscZero + 0x1'0000'0000ull - 30'000'000;
  CHECK(set_timer_op(w, 0, 1, false) == 0);
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(pending(w, port));
  w.ticks = kFakeTscZero + 0x1'0000'0000ull;
  CHECK(becomes_pending(w, port));
  w.shinfo().evtchn_pending[0] = 0;
  // 2^51 ns ahead (26 days) is taken as a wrapped jiffy: 100 ms instead.
  CHECK(set_timer_op(w, 0x1'0000'0000ull + (1ull << 51)) == 0);
  w.ticks += 99'000'000;
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(pending(w, port));
  w.ticks += 1'000'000;
  CHECK(becomes_pending(w, port));
  w.shinfo().evtchn_pending[0] = 0;
  // The most negative s_time_t (found by fuzz_hypercalls: UB in the old subtraction): 100 ms too.
  CHECK(set_timer_op(w, 0x8000'0000'0000'0000ull) == 0);
  w.ticks += 100'000'000;
  CHECK(becomes_pending(w, port));
}

TEST_CASE("periodic timer: Xen's bounds, repeated ticks, stop", "[platform][time]") {
  PlatformWorld w(false);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  const evtchn_port_t port = bind_timer(w, 1);
  CHECK(periodic(w, 1, 999'999) == -XEN_EINVAL);
  CHECK(periodic(w, 1, (1ull << 62)) == -XEN_EINVAL);
  CHECK(w.vcpu_op(VCPUOP_set_periodic_timer, 1, kBadPointer) == -XEN_EFAULT);
  w.ticks = kFakeTscZero + 5'000'000;
  CHECK(periodic(w, 1, 1'000'000) == 0);  // another vCPU's periodic timer is allowed
  for (int tick = 0; tick < 3; ++tick) {
    CHECK(becomes_pending(w, port));
    w.shinfo().evtchn_pending[0] = 0;
    w.ticks += 1'000'000;
  }
  CHECK(w.vcpu_op(VCPUOP_stop_periodic_timer, 1, 0) == 0);
  std::this_thread::sleep_for(20ms);
  w.shinfo().evtchn_pending[0] = 0;
  w.ticks += 10'000'000;
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(pending(w, port));
}

TEST_CASE("get_runstate_info without KVM: kxen's accounting, both layouts", "[platform][time]") {
  PlatformWorld w(false);
  w.ticks = kFakeTscZero + 1000;
  w.platform->vcpu_runstate(0, RUNSTATE_running);
  w.ticks = kFakeTscZero + 4000;
  CHECK(w.vcpu_op(VCPUOP_get_runstate_info, 0, kBuf) == 0);
  auto info = w.memory.read_obj<vcpu_runstate_info>(kBuf);
  REQUIRE(info);
  CHECK(info->state == RUNSTATE_running);
  CHECK(info->state_entry_time == 1000u);
  CHECK(info->time[RUNSTATE_running] == 3000u);
  CHECK(info->time[RUNSTATE_offline] == 1000u);
  CHECK(w.vcpu_op(VCPUOP_get_runstate_info, 1, kBuf, false) == 0);
  auto compat = w.memory.read_obj<RunstateInfo32>(kBuf);
  REQUIRE(compat);
  CHECK(compat->state == RUNSTATE_offline);
  CHECK((compat->time[RUNSTATE_offline] == 4000u));  // packed 32-bit layout: compared by value
  CHECK(w.vcpu_op(VCPUOP_get_runstate_info, 0, kBadPointer) == -XEN_EFAULT);
  CHECK(w.vcpu_op(VCPUOP_get_runstate_info, 2, kBuf) == -XEN_ENOENT);
}

TEST_CASE("get_runstate_info with KVM: KVM's accounting, brought up to now", "[platform][time]") {
  PlatformWorld w;
  vcpu_runstate_info kvm{};
  kvm.state = RUNSTATE_running;
  kvm.state_entry_time = 700;
  kvm.time[RUNSTATE_running] = 500;
  kvm.time[RUNSTATE_offline] = 200;
  w.accel.kvm_runstate = kvm;
  w.ticks = kFakeTscZero + 1000;
  CHECK(w.vcpu_op(VCPUOP_get_runstate_info, 1, kBuf) == 0);
  auto info = w.memory.read_obj<vcpu_runstate_info>(kBuf);
  REQUIRE(info);
  CHECK(info->state_entry_time == 700u);
  CHECK(info->time[RUNSTATE_running] == 800u);
  w.accel.ok = false;  // KVM refuses: kxen's own view (offline since creation)
  CHECK(w.vcpu_op(VCPUOP_get_runstate_info, 1, kBuf) == 0);
  CHECK(w.memory.read_obj<vcpu_runstate_info>(kBuf)->state == RUNSTATE_offline);
}

TEST_CASE("without KVM the runstate area is kept by kxen, with the update flag from vm_assist", "[platform][time]") {
  PlatformWorld w(false);
  HypercallRequest assist;
  assist.args = {VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag, 0, 0, 0, 0};
  REQUIRE(w.platform->vm_assist(assist).result == 0);
  REQUIRE(w.memory.write_obj(kArg, std::uint64_t{kBuf}));
  CHECK(w.vcpu_op(VCPUOP_register_runstate_memory_area, 0, kArg) == 0);
  CHECK(w.memory.read_obj<vcpu_runstate_info>(kBuf)->state == RUNSTATE_offline);
  w.ticks = kFakeTscZero + 3000;
  w.platform->vcpu_runstate(0, RUNSTATE_running);
  auto area = w.memory.read_obj<vcpu_runstate_info>(kBuf);
  REQUIRE(area);
  CHECK(area->state == RUNSTATE_running);
  CHECK(area->state_entry_time == 3000u);
  CHECK(area->time[RUNSTATE_offline] == 3000u);
  // A 32-bit caller's 44-byte area fits where a 48-byte one would not.
  REQUIRE(w.memory.write_obj(kArg, std::uint64_t{kRamTop - 44}));
  CHECK(w.vcpu_op(VCPUOP_register_runstate_memory_area, 1, kArg, false) == 0);
  CHECK(w.vcpu_op(VCPUOP_register_runstate_memory_area, 1, kArg, true) == -XEN_EFAULT);
}

}  // namespace kxen::test
