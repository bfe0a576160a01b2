#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "support/identity_virtual.hpp"
#include "xen/hypercall/multicall.hpp"
#include "xen/hypercall/xen_abi.hpp"

namespace kxen::test {

namespace {

constexpr std::uint64_t kList = 0x2000;

struct World {
  GuestMemory memory;
  IdentityVirtual virt{memory};
  std::vector<HypercallRequest> calls;
  World() { REQUIRE_FALSE(memory.add_ram(0, 0x10000)); }

  // Each call returns its number negated, except xen_version (0) which returns 7.
  HypercallDispatch dispatch(VcpuAction action_of_sched_op = VcpuAction::resume) {
    return [this, action_of_sched_op](const HypercallRequest& r, GuestVirtual&) {
      calls.push_back(r);
      if (r.nr == __HYPERVISOR_xen_version) return HypercallOutcome{7};
      if (r.nr == __HYPERVISOR_sched_op) return HypercallOutcome{0, action_of_sched_op};
      // memory_op continues itself until its first argument reaches 3 (work done in steps).
      if (r.nr == __HYPERVISOR_memory_op && r.args[0] < 3) {
        auto next = r.args;
        ++next[0];
        return continue_with(next);
      }
      return HypercallOutcome{-static_cast<std::int64_t>(r.nr)};
    };
  }
  HypercallOutcome run(std::uint64_t count, bool long_mode = true, VcpuAction sched_action = VcpuAction::resume) {
    HypercallRequest r;
    r.nr = __HYPERVISOR_multicall;
    r.long_mode = long_mode;
    r.vcpu = 1;
    r.args = {kList, count, 0, 0, 0, 0};
    return run_multicall(r, virt, dispatch(sched_action));
  }
};

}  // namespace

TEST_CASE("multicall runs 64-bit entries in order and writes each result back", "[hypercall]") {
  World w;
  std::array<multicall_entry_t, 3> list{};
  list[0].op = __HYPERVISOR_xen_version;
  list[0].args[0] = 11;
  list[1].op = __HYPERVISOR_grant_table_op;
  list[1].args[5] = 0xfeed;
  list[2].op = __HYPERVISOR_multicall;  // nested: refused in place
  list[0].result = list[1].result = list[2].result = 0x5555;
  REQUIRE(w.memory.write_obj(kList, list));

  CHECK(w.run(3).result == 0);
  const auto back = *w.memory.read_obj<std::array<multicall_entry_t, 3>>(kList);
  CHECK(back[0].result == 7);
  CHECK(static_cast<std::int64_t>(back[1].result) == -__HYPERVISOR_grant_table_op);
  CHECK(static_cast<std::int64_t>(back[2].result) == -XEN_EINVAL);
  REQUIRE(w.calls.size() == 2);
  CHECK(w.calls[0].args[0] == 11);
  CHECK(w.calls[0].vcpu == 1);
  CHECK(w.calls[1].args[5] == 0xfeed);
}

TEST_CASE("multicall from 32-bit code uses the compat layout", "[hypercall]") {
  World w;
  const std::array<std::uint32_t, 16> list{__HYPERVISOR_xen_version, 0x5555, 1, 2, 3, 4, 5, 6,
                                           __HYPERVISOR_memory_op,   0x5555, 9, 0, 0, 0, 0, 0};
  REQUIRE(w.memory.write_obj(kList, list));
  CHECK(w.run(2, false).result == 0);
  const auto back = *w.memory.read_obj<std::array<std::uint32_t, 16>>(kList);
  CHECK(back[1] == 7);
  CHECK(back[9] == static_cast<std::uint32_t>(-__HYPERVISOR_memory_op));
  REQUIRE(w.calls.size() == 2);
  CHECK(w.calls[0].args == std::array<std::uint64_t, 6>{1, 2, 3, 4, 5, 6});
  CHECK(w.calls[1].args[0] == 9);
  CHECK_FALSE(w.calls[1].long_mode);
}

TEST_CASE("multicall stops at a call that stops the vCPU and passes a block on", "[hypercall]") {
  World w;
  std::array<multicall_entry_t, 2> list{};
  list[0].op = __HYPERVISOR_sched_op;
  list[1].op = __HYPERVISOR_xen_version;
  REQUIRE(w.memory.write_obj(kList, list));
  CHECK(w.run(2, true, VcpuAction::stop).action == VcpuAction::stop);
  CHECK(w.calls.size() == 1);

  World blocked;
  REQUIRE(blocked.memory.write_obj(kList, list));
  const auto outcome = blocked.run(2, true, VcpuAction::block);
  CHECK(outcome.action == VcpuAction::block);
  CHECK(blocked.calls.size() == 2);
}

TEST_CASE("multicall refuses unreadable lists", "[hypercall]") {
  World w;
  HypercallRequest r;
  r.args = {0x10000 - 0x40, 2, 0, 0, 0, 0};  // the first entry fits, the second runs off the end of RAM
  multicall_entry_t last{};
  last.op = __HYPERVISOR_xen_version;
  REQUIRE(w.memory.write_obj(0x10000 - 0x40, last));
  CHECK(run_multicall(r, w.virt, w.dispatch()).result == -XEN_EFAULT);
  CHECK(w.calls.size() == 1);
  CHECK(w.memory.read_obj<multicall_entry_t>(0x10000 - 0x40)->result == 7);
  w.calls.clear();
  CHECK(w.run(0).result == 0);
  CHECK(w.calls.empty());
}

namespace {
// Runs the multicall and each continuation it asks for, as the vCPU loop re-issues it.
HypercallOutcome run_to_end(World& w, std::uint64_t count, bool long_mode, int& invocations) {
  HypercallRequest r;
  r.nr = __HYPERVISOR_multicall;
  r.long_mode = long_mode;
  r.args = {kList, count, 0, 0, 0, 0};
  for (invocations = 1;; ++invocations) {
    const auto out = run_multicall(r, w.virt, w.dispatch());
    if (out.action != VcpuAction::restart || invocations > 100) return out;
    r.args = out.restart_args;
  }
}
}  // namespace

TEST_CASE("multicall runs a bounded number of entries, then continues on the rest", "[hypercall][budget]") {
  World w;
  constexpr std::size_t kCount = 40;
  std::vector<multicall_entry_t> list(kCount);
  for (auto& e : list) e.op = __HYPERVISOR_xen_version;
  REQUIRE(w.memory.write(kList, std::as_bytes(std::span(list))));
  const auto first = w.run(kCount);
  REQUIRE(first.action == VcpuAction::restart);
  CHECK(first.restart_args[0] == kList + kMulticallEntriesPerInvocation * sizeof(multicall_entry_t));
  CHECK(first.restart_args[1] == kCount - kMulticallEntriesPerInvocation);
  CHECK(w.calls.size() == kMulticallEntriesPerInvocation);

  World all;
  REQUIRE(all.memory.write(kList, std::as_bytes(std::span(list))));
  int invocations = 0;
  CHECK(run_to_end(all, kCount, true, invocations).result == 0);
  CHECK(invocations == 3);
  CHECK(all.calls.size() == kCount);
  std::vector<multicall_entry_t> back(kCount);
  REQUIRE(all.memory.read(kList, std::as_writable_bytes(std::span(back))));
  for (const auto& e : back) CHECK(e.result == 7);
}

TEST_CASE("an entry that continues itself gets its new arguments and the multicall resumes there", "[hypercall][budget]") {
  World w;
  std::array<multicall_entry_t, 3> list{};
  list[0].op = __HYPERVISOR_xen_version;
  list[1].op = __HYPERVISOR_memory_op;
  list[1].args[4] = 0xbeef;
  list[2].op = __HYPERVISOR_xen_version;
  REQUIRE(w.memory.write_obj(kList, list));
  const auto first = w.run(3);
  REQUIRE(first.action == VcpuAction::restart);
  CHECK(first.restart_args[0] == kList + sizeof(multicall_entry_t));
  CHECK(first.restart_args[1] == 2);
  auto back = *w.memory.read_obj<std::array<multicall_entry_t, 3>>(kList);
  CHECK(back[0].result == 7);
  CHECK(back[1].args[0] == 1);  // the continuation's arguments, in the entry
  CHECK(back[1].args[4] == 0xbeef);
  CHECK(w.calls.size() == 2);

  World all;
  REQUIRE(all.memory.write_obj(kList, list));
  int invocations = 0;
  CHECK(run_to_end(all, 3, true, invocations).result == 0);
  CHECK(invocations == 4);
  back = *all.memory.read_obj<std::array<multicall_entry_t, 3>>(kList);
  CHECK(static_cast<std::int64_t>(back[1].result) == -__HYPERVISOR_memory_op);
  CHECK(back[2].result == 7);
  CHECK(all.calls.size() == 1 + 4 + 1);  // xen_version, memory_op at 0..3, xen_version
}

TEST_CASE("a 32-bit entry's continuation is written in the compat layout", "[hypercall][budget]") {
  World w;
  const std::array<std::uint32_t, 8> entry{__HYPERVISOR_memory_op, 0x5555, 1, 2, 3, 4, 5, 6};
  REQUIRE(w.memory.write_obj(kList, entry));
  const auto out = w.run(1, false);
  REQUIRE(out.action == VcpuAction::restart);
  CHECK(out.restart_args[0] == kList);
  CHECK(out.restart_args[1] == 1);
  CHECK(*w.memory.read_obj<std::array<std::uint32_t, 8>>(kList) ==
        std::array<std::uint32_t, 8>{__HYPERVISOR_memory_op, 0x5555, 2, 2, 3, 4, 5, 6});
}

}  // namespace kxen::test
