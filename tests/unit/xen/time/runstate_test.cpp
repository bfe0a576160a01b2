// Runstates: user-space accounting and the guest's runstate areas in both layouts.
#include "time_fakes.hpp"

#include "xen/time/runstate.hpp"

namespace kxen::test {
namespace {
constexpr Gpa kArea = 0x2000;

struct RunstateWorld {
  GuestMemory memory;
  FakeTsc tsc;
  std::unique_ptr<Runstates> runstates;
  RunstateWorld() {
    REQUIRE_FALSE(memory.add_ram(0, 0x10000));
    tsc.set_ns(100);
    runstates = std::make_unique<Runstates>(2, tsc.clock, memory);
  }
};

// The guest's area decoded from either layout.
vcpu_runstate_info read_area(const GuestMemory& memory, bool long_mode) {
  if (long_mode) return *memory.read_obj<vcpu_runstate_info>(kArea);
  const auto compat = *memory.read_obj<RunstateInfo32>(kArea);
  vcpu_runstate_info info{};
  info.state = compat.state;
  info.state_entry_time = compat.state_entry_time;
  for (int i = 0; i < 4; ++i) info.time[i] = compat.time[i];
  return info;
}
}  // namespace

TEST_CASE("runstate: offline from creation, then running and blocked add up", "[time]") {
  RunstateWorld w;
  auto info = w.runstates->get(0);
  CHECK(info.state == RUNSTATE_offline);
  CHECK(info.state_entry_time == 100u);
  w.tsc.set_ns(1100);
  w.runstates->enter(0, RUNSTATE_running);
  w.tsc.set_ns(1600);
  w.runstates->enter(0, RUNSTATE_blocked);
  w.runstates->enter(0, RUNSTATE_blocked);  // no change: no time moves
  w.tsc.set_ns(1900);
  w.runstates->enter(0, RUNSTATE_running);
  w.tsc.set_ns(2000);
  info = w.runstates->get(0);
  CHECK(info.state == RUNSTATE_running);
  CHECK(info.state_entry_time == 1900u);
  CHECK(info.time[RUNSTATE_offline] == 1000u);
  CHECK(info.time[RUNSTATE_running] == 500u + 100u);  // the current stretch counts, as in Xen
  CHECK(info.time[RUNSTATE_blocked] == 300u);
  CHECK(info.time[RUNSTATE_runnable] == 0u);
  // The other vCPU is untouched.
  CHECK(w.runstates->get(1).time[RUNSTATE_offline] == 1900u);
}

TEST_CASE("runstate area: written on registration and on each change, in the guest's layout", "[time]") {
  for (const bool long_mode : {true, false}) {
    INFO((long_mode ? "64-bit" : "32-bit"));
    RunstateWorld w;
    w.tsc.set_ns(400);
    w.runstates->enter(1, RUNSTATE_running);
    w.runstates->set_area(1, kArea, long_mode);
    auto area = read_area(w.memory, long_mode);
    CHECK(area.state == RUNSTATE_running);
    CHECK(area.state_entry_time == 400u);
    CHECK(area.time[RUNSTATE_offline] == 300u);
    w.tsc.set_ns(900);
    w.runstates->enter(1, RUNSTATE_blocked);
    area = read_area(w.memory, long_mode);
    CHECK(area.state == RUNSTATE_blocked);
    CHECK(area.state_entry_time == 900u);
    CHECK(area.time[RUNSTATE_running] == 500u);  // the area holds times as of the state's entry
    // 32-bit: state_entry_time right after the 4-byte state, no padding.
    CHECK(w.memory.read_obj<std::uint64_t>(kArea + (long_mode ? 8 : 4)) == 900u);
  }
  CHECK(Runstates::area_size(false) == 44u);
}

TEST_CASE("runstate update flag: the area ends without XEN_RUNSTATE_UPDATE", "[time]") {
  RunstateWorld w;
  w.runstates->set_update_flag(true);
  w.runstates->set_area(0, kArea, true);
  w.tsc.set_ns(5000);
  w.runstates->enter(0, RUNSTATE_running);
  auto area = w.memory.read_obj<vcpu_runstate_info>(kArea);
  REQUIRE(area);
  CHECK((area->state_entry_time & XEN_RUNSTATE_UPDATE) == 0);
  CHECK(area->state_entry_time == 5000u);
  CHECK(area->state == RUNSTATE_running);
}

TEST_CASE("runstate area that is not guest memory is skipped", "[time]") {
  RunstateWorld w;
  w.runstates->set_area(0, 0x7000'0000, true);
  w.runstates->enter(0, RUNSTATE_running);  // no crash, nothing written
  CHECK(w.runstates->get(0).state == RUNSTATE_running);
}

TEST_CASE("runstate_as_of and encode_runstate", "[time]") {
  vcpu_runstate_info info{};
  info.state = RUNSTATE_blocked;
  info.state_entry_time = 50;
  info.time[RUNSTATE_running] = 30;
  info.time[RUNSTATE_offline] = 20;
  const auto now = runstate_as_of(info, 80);
  CHECK(now.time[RUNSTATE_blocked] == 30u);
  CHECK(runstate_as_of(info, 40).time[RUNSTATE_blocked] == 0u);  // a clock behind entry adds nothing
  info.state = 9;                                                  // out of range: nothing indexed
  CHECK(runstate_as_of(info, 80).time[RUNSTATE_running] == 30u);
  CHECK(encode_runstate(now, true).size() == 48u);
  CHECK(encode_runstate(now, false).size() == 44u);
}

}  // namespace kxen::test
