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

TEST_CASE("multicall refuses unreadable lists and oversized counts", "[hypercall]") {
  World w;
  CHECK(w.run(kMaxMulticallEntries + 1).result == -XEN_EINVAL);
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

}  // namespace kxen::test
