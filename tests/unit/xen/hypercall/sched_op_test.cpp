#include <catch2/catch.hpp>

#include "guest_fixture.hpp"
#include "xen/hypercall/xen_abi.hpp"

using namespace kxen;
using namespace kxen::test;

TEST_CASE("sched_op yield and block", "[hypercall]") {
  Guest g(GENERATE(false, true));
  auto out = g.call(__HYPERVISOR_sched_op, SCHEDOP_yield);
  CHECK(out.result == 0);
  CHECK(out.action == VcpuAction::resume);
  out = g.call(__HYPERVISOR_sched_op, SCHEDOP_block);
  CHECK(out.result == 0);
  CHECK(out.action == VcpuAction::block);
  CHECK(g.call(__HYPERVISOR_sched_op, SCHEDOP_poll, g.buf).result == -XEN_ENOSYS);  // event-channel work
  CHECK(g.call(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, g.buf).result == -XEN_ENOSYS);
  CHECK(g.host.shutdowns.empty());
}

TEST_CASE("sched_op shutdown tells the host and stops the vCPU", "[hypercall]") {
  Guest g(GENERATE(false, true));
  const Gpa phys = Guest::kBuf;

  g.mem.write_obj(phys, sched_shutdown_t{SHUTDOWN_reboot});
  auto out = g.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, g.buf);
  CHECK(out.result == 0);
  CHECK(out.action == VcpuAction::stop);
  REQUIRE(g.host.shutdowns == std::vector{ShutdownReason::reboot});

  SECTION("an invalid reason is refused and nothing stops") {
    g.mem.write_obj(phys, sched_shutdown_t{SHUTDOWN_MAX + 1});
    out = g.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, g.buf);
    CHECK(out.result == -XEN_EINVAL);
    CHECK(out.action == VcpuAction::resume);
    CHECK(g.host.shutdowns.size() == 1);
  }
  SECTION("a bad pointer faults") {
    out = g.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, g.bad());
    CHECK(out.result == -XEN_EFAULT);
    CHECK(out.action == VcpuAction::resume);
    CHECK(g.host.shutdowns.size() == 1);
  }
}

TEST_CASE("sched_op shutdown_code is stored once and wins over the later reason", "[hypercall]") {
  Guest g(false);
  const Gpa phys = Guest::kBuf;
  CHECK_FALSE(g.hc.shutdown_code());

  g.mem.write_obj(phys, sched_shutdown_t{SHUTDOWN_crash});
  REQUIRE(g.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, g.buf).result == 0);
  CHECK(g.hc.shutdown_code() == ShutdownReason::crash);
  CHECK(g.host.shutdowns.empty());  // storing a code does not shut down

  g.mem.write_obj(phys, sched_shutdown_t{SHUTDOWN_reboot});
  REQUIRE(g.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, g.buf).result == 0);
  CHECK(g.hc.shutdown_code() == ShutdownReason::crash);  // the first code sticks, as in Xen

  g.mem.write_obj(phys, sched_shutdown_t{99});
  CHECK(g.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, g.buf).result == -XEN_EINVAL);
  CHECK(g.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, g.bad()).result == -XEN_EFAULT);

  g.mem.write_obj(phys, sched_shutdown_t{SHUTDOWN_poweroff});
  REQUIRE(g.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, g.buf).action == VcpuAction::stop);
  CHECK(g.host.shutdowns == std::vector{ShutdownReason::crash});
}

TEST_CASE("sched_op_compat takes the reason by value", "[hypercall]") {
  Guest g(false);
  CHECK(g.call(__HYPERVISOR_sched_op_compat, SCHEDOP_yield).action == VcpuAction::resume);
  CHECK(g.call(__HYPERVISOR_sched_op_compat, SCHEDOP_block).action == VcpuAction::block);
  CHECK(g.call(__HYPERVISOR_sched_op_compat, SCHEDOP_shutdown, 42).result == -XEN_EINVAL);
  const auto out = g.call(__HYPERVISOR_sched_op_compat, SCHEDOP_shutdown, SHUTDOWN_poweroff);
  CHECK(out.result == 0);
  CHECK(out.action == VcpuAction::stop);
  CHECK(g.host.shutdowns == std::vector{ShutdownReason::poweroff});
  CHECK(g.call(__HYPERVISOR_sched_op_compat, SCHEDOP_shutdown_code, 0).result == -XEN_ENOSYS);
}
