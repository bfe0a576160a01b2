#include <catch2/catch.hpp>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <stdexcept>

#include "guest_fixture.hpp"
#include "xen/hypercall/xen_abi.hpp"

using namespace kxen;
using namespace kxen::test;

namespace {
// Captures spdlog output for the duration of a test, restoring the default logger after.
struct LogCapture {
  LogCapture() : sink(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)), saved(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(saved); }
  std::size_t count(std::string_view needle) const {
    std::size_t n = 0;
    for (const auto& line : sink->last_formatted()) n += line.find(needle) != std::string::npos;
    return n;
  }
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink;
  std::shared_ptr<spdlog::logger> saved;
};
}  // namespace

TEST_CASE("unknown hypercalls return -ENOSYS and are logged once each", "[hypercall]") {
  LogCapture log;
  Guest g(false);
  for (int i = 0; i < 5; ++i) {
    CHECK(g.call(__HYPERVISOR_dm_op).result == -XEN_ENOSYS);
    CHECK(g.call(1000).result == -XEN_ENOSYS);
    CHECK(g.call(~0ull).result == -XEN_ENOSYS);
  }
  CHECK(g.hc.unknown_ops().logged() == 3);
  CHECK(log.count("unknown hypercall 41 dm_op") == 1);
  CHECK(log.count("unknown hypercall 0x3e8 ") == 1);

  SECTION("unknown sub-ops are logged once per (number, sub-op)") {
    for (int i = 0; i < 5; ++i) {
      CHECK(g.call(__HYPERVISOR_sched_op, SCHEDOP_poll).result == -XEN_ENOSYS);
      CHECK(g.call(__HYPERVISOR_sched_op, SCHEDOP_watchdog).result == -XEN_ENOSYS);
      CHECK(g.call(__HYPERVISOR_xen_version, 77).result == -XEN_ENOSYS);
    }
    CHECK(g.hc.unknown_ops().logged() == 6);
    CHECK(log.count("sched_op (29) sub-op 3 answered -ENOSYS") == 1);
    CHECK(log.count("sched_op (29) sub-op 6 answered -ENOSYS") == 1);
  }
}

TEST_CASE("the unknown-op log is bounded against a hostile guest", "[hypercall]") {
  LogCapture log;
  Guest g(false);
  for (std::uint64_t nr = 100; nr < 100 + 3 * UnknownOps::kMaxKeys; ++nr) CHECK(g.call(nr).result == -XEN_ENOSYS);
  CHECK(g.hc.unknown_ops().logged() == UnknownOps::kMaxKeys);
  CHECK(log.count("no longer logging") == 1);
}

TEST_CASE("32-bit callers have number and arguments cut to 32 bits", "[hypercall]") {
  Guest g(false);
  HypercallRequest seen;
  g.hc.set_handler(__HYPERVISOR_vcpu_op, [&](const HypercallRequest& req, GuestVirtual&) {
    seen = req;
    return HypercallOutcome{7};
  });
  HypercallRequest req;
  req.long_mode = false;
  req.vcpu = 3;
  req.nr = 0xdead00000000ull | __HYPERVISOR_vcpu_op;
  req.args = {0x1111111122222222ull, 0xffffffff00000001ull, 3, 4, 5, 0x600000006ull};
  CHECK(g.hc.dispatch(req, *g.gv).result == 7);
  CHECK(seen.nr == __HYPERVISOR_vcpu_op);
  CHECK(seen.vcpu == 3);
  CHECK(seen.args == std::array<std::uint64_t, 6>{0x22222222, 1, 3, 4, 5, 6});

  req.long_mode = true;  // 64-bit callers keep every bit: this number does not exist
  CHECK(g.hc.dispatch(req, *g.gv).result == -XEN_ENOSYS);
  req.nr = __HYPERVISOR_vcpu_op;
  CHECK(g.hc.dispatch(req, *g.gv).result == 7);
  CHECK(seen.args[0] == 0x1111111122222222ull);
}

TEST_CASE("32-bit callers reach handlers with 32-bit pointers", "[hypercall]") {
  Guest g(false);
  g.mem.write_obj(Guest::kBuf, xen_feature_info_t{0, 0});
  // High garbage in the pointer register of a 32-bit caller is not part of the address.
  const auto out = g.call(__HYPERVISOR_xen_version, 0xabcd00000000ull | XENVER_get_features,
                          0x5555555500000000ull | Guest::kBuf, 0, false);
  CHECK(out.result == 0);
  CHECK(g.mem.read_obj<xen_feature_info_t>(Guest::kBuf)->submap == kPvhDomUFeatures);
}

TEST_CASE("subsystems register handlers without touching the table code", "[hypercall]") {
  Guest g(false);
  CHECK(g.hc.has_handler(__HYPERVISOR_xen_version));
  CHECK(g.hc.has_handler(__HYPERVISOR_console_io));
  CHECK(g.hc.has_handler(__HYPERVISOR_sched_op));
  CHECK_FALSE(g.hc.has_handler(__HYPERVISOR_event_channel_op));
  CHECK(g.call(__HYPERVISOR_event_channel_op, 0).result == -XEN_ENOSYS);

  int calls = 0;
  g.hc.set_handler(__HYPERVISOR_event_channel_op, [&](const HypercallRequest& req, GuestVirtual&) {
    ++calls;
    return HypercallOutcome{static_cast<std::int64_t>(req.args[0]), VcpuAction::block};
  });
  const auto out = g.call(__HYPERVISOR_event_channel_op, 5);
  CHECK(calls == 1);
  CHECK(out.result == 5);
  CHECK(out.action == VcpuAction::block);

  g.hc.set_handler(__HYPERVISOR_xen_version, [](auto&, auto&) { return HypercallOutcome{-XEN_EPERM}; });
  CHECK(g.call(__HYPERVISOR_xen_version, XENVER_version).result == -XEN_EPERM);  // replaced
  CHECK_THROWS_AS(g.hc.set_handler(Hypercalls::kTableSize, {}), std::out_of_range);
}

TEST_CASE("hypercall names for logs", "[hypercall]") {
  CHECK(hypercall_name(__HYPERVISOR_memory_op) == "memory_op");
  CHECK(hypercall_name(__HYPERVISOR_hvm_op) == "hvm_op");
  CHECK(hypercall_name(11).empty());
  CHECK(hypercall_name(1ull << 40).empty());
}
