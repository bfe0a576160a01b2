#include <catch2/catch.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "guest_fixture.hpp"
#include "xen/hypercall/sched_poll.hpp"
#include "xen/hypercall/xen_abi.hpp"

using namespace kxen;
using namespace kxen::test;
using namespace std::chrono_literals;

namespace {

// Event channels as poll sees them: a port table of `size` ports, some pending.
class FakePorts final : public PollPorts {
 public:
  bool valid(std::uint32_t port) const override { return port < size; }
  bool any_pending(std::span<const std::uint32_t> ports) const override {
    std::function<void()> hook;
    bool found = false;
    {
      std::lock_guard lock(mutex_);
      ++looks;
      for (auto p : ports) found = found || pending.count(p) != 0;
      hook.swap(on_look);
    }
    if (hook) hook();  // runs after the answer was taken: a raise "while poll looked"
    return found;
  }
  void set_pending(std::uint32_t port) {
    std::lock_guard lock(mutex_);
    pending.insert(port);
  }
  int look_count() const {
    std::lock_guard lock(mutex_);
    return looks;
  }
  void on_next_look(std::function<void()> f) {
    std::lock_guard lock(mutex_);
    on_look = std::move(f);
  }

  std::uint32_t size = 64;
  mutable std::mutex mutex_;
  std::set<std::uint32_t> pending;
  mutable std::function<void()> on_look;
  mutable int looks = 0;
};

constexpr std::uint64_t kArgs = 0;      // offset of the sched_poll struct in the buffer
constexpr std::uint64_t kPorts = 0x100; // offset of the port array

struct PollGuest {
  explicit PollGuest(bool paged = false, std::uint32_t vcpus = 1) : g(paged, config(vcpus)) {
    auto owned = std::make_unique<FakePorts>();
    ports = owned.get();
    g.hc.sched_poll().attach(std::move(owned));
  }
  static HypercallConfig config(std::uint32_t vcpus) {
    HypercallConfig c;
    c.vcpu_count = vcpus;
    return c;
  }
  // A 64-bit caller's sched_poll over `list`, written at the buffer.
  void args64(std::vector<std::uint32_t> list, std::uint64_t timeout = 0, std::uint32_t nr = ~0u) {
    sched_poll_t op{};
    op.ports.p = reinterpret_cast<evtchn_port_t*>(g.buf + kPorts);
    op.nr_ports = nr == ~0u ? static_cast<std::uint32_t>(list.size()) : nr;
    op.timeout = timeout;
    g.mem.write_obj(Guest::kBuf + kArgs, op);
    write_ports(list);
  }
  void write_ports(const std::vector<std::uint32_t>& list) {
    if (!list.empty()) g.mem.write(Guest::kBuf + kPorts, std::as_bytes(std::span(list)));
  }
  HypercallOutcome poll(std::uint32_t vcpu = 0, bool long_mode = true) {
    HypercallRequest req;
    req.vcpu = vcpu;
    req.nr = __HYPERVISOR_sched_op;
    req.long_mode = long_mode;
    req.args = {SCHEDOP_poll, g.buf + kArgs, 0, 0, 0, 0};
    return g.hc.dispatch(req, *g.gv);
  }
  // The future stays owned here: a failed check must not leave a test blocked in its destructor.
  std::future<HypercallOutcome>& poll_async(std::uint32_t vcpu = 0, bool long_mode = true) {
    return waiters.emplace_back(std::async(std::launch::async, [this, vcpu, long_mode] { return poll(vcpu, long_mode); }));
  }
  ~PollGuest() { g.hc.sched_poll().stop(); }  // releases any poll still waiting, then joins it

  Guest g;
  FakePorts* ports = nullptr;
  std::deque<std::future<HypercallOutcome>> waiters;
};

bool still_blocked(std::future<HypercallOutcome>& f) { return f.wait_for(100ms) == std::future_status::timeout; }
bool returned(std::future<HypercallOutcome>& f) { return f.wait_for(10s) == std::future_status::ready; }
// The poll has copied its port list and looked at the ports once: a 100 ms pause does not
// prove that on a starved machine, where the thread may not even have started.
bool has_looked(const FakePorts& ports) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (ports.look_count() == 0) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("SCHEDOP_poll is ENOSYS until event channels are attached", "[hypercall][sched_poll]") {
  Guest g(false);
  CHECK(g.call(__HYPERVISOR_sched_op, SCHEDOP_poll, g.buf).result == -XEN_ENOSYS);
  CHECK_FALSE(g.hc.sched_poll().attached());
}

TEST_CASE("SCHEDOP_poll returns at once when a listed port is pending", "[hypercall][sched_poll]") {
  PollGuest p(GENERATE(false, true));
  p.ports->set_pending(9);
  p.args64({3, 9});
  auto out = p.poll();
  CHECK(out.result == 0);
  CHECK(out.action == VcpuAction::resume);
}

TEST_CASE("SCHEDOP_poll reads a 32-bit caller's layout", "[hypercall][sched_poll][threads]") {
  PollGuest p;
  p.ports->set_pending(7);
  struct {
    std::uint32_t ports, nr_ports;
    std::uint64_t timeout;
  } op32{static_cast<std::uint32_t>(Guest::kBuf + kPorts), 2, 0};
  static_assert(sizeof(op32) == 16);
  p.g.mem.write_obj(Guest::kBuf + kArgs, op32);
  p.write_ports({1, 7});
  CHECK(p.poll(0, false).result == 0);

  SECTION("its timeout is read at offset 8") {
    p.write_ports({1, 1});
    op32.timeout = 1;  // long passed: the poll ends without any port pending
    p.g.mem.write_obj(Guest::kBuf + kArgs, op32);
    auto& waiter = p.poll_async(0, false);
    REQUIRE(returned(waiter));
    CHECK(waiter.get().result == 0);
  }
}

TEST_CASE("SCHEDOP_poll validates what the guest gives it", "[hypercall][sched_poll]") {
  PollGuest p(GENERATE(false, true));
  p.ports->set_pending(2);

  SECTION("more than 128 ports") {
    p.args64({2}, 0, SchedPoll::kMaxPorts + 1);
    CHECK(p.poll().result == -XEN_EINVAL);
  }
  SECTION("128 ports are fine") {
    std::vector<std::uint32_t> list(SchedPoll::kMaxPorts, 1);
    list.back() = 2;
    p.args64(list);
    CHECK(p.poll().result == 0);
  }
  SECTION("a port beyond the guest's table, even after a pending one") {
    p.args64({2, 64});
    CHECK(p.poll().result == -XEN_EINVAL);
    p.args64({0xffffffffu});
    CHECK(p.poll().result == -XEN_EINVAL);
  }
  SECTION("an unreadable argument struct") {
    HypercallRequest req;
    req.nr = __HYPERVISOR_sched_op;
    req.args = {SCHEDOP_poll, p.g.bad(), 0, 0, 0, 0};
    CHECK(p.g.hc.dispatch(req, *p.g.gv).result == -XEN_EFAULT);
  }
  SECTION("a port array running off the mapped buffer") {
    sched_poll_t op{};
    op.ports.p = reinterpret_cast<evtchn_port_t*>(p.g.bad() - 4);
    op.nr_ports = 2;
    p.g.mem.write_obj(Guest::kBuf + kArgs, op);
    CHECK(p.poll().result == -XEN_EFAULT);
  }
  SECTION("a vCPU the VM does not have") {
    p.args64({2});
    CHECK(p.poll(1).result == -XEN_EINVAL);
  }
  CHECK(p.g.host.shutdowns.empty());
}

TEST_CASE("SCHEDOP_poll sleeps until its absolute timeout", "[hypercall][sched_poll][threads]") {
  std::uint64_t now_ns = 5'000'000'000;  // the guest's system time is 5 s
  SchedPoll poll(1, [&] { return now_ns; });
  auto owned = std::make_unique<FakePorts>();
  poll.attach(std::move(owned));
  GuestMemory mem;
  REQUIRE_FALSE(mem.add_ram(0, 1 << 20));
  IdentityVirtual gv(mem);
  mem.write_obj<std::uint32_t>(0x1000, 3);
  HypercallRequest req;
  req.args = {SCHEDOP_poll, 0x2000, 0, 0, 0, 0};
  auto call = [&](std::uint64_t timeout) {
    sched_poll_t op{};
    op.ports.p = reinterpret_cast<evtchn_port_t*>(0x1000);
    op.nr_ports = 1;
    op.timeout = timeout;
    mem.write_obj(0x2000, op);
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t result = poll.poll(req, gv);
    return std::pair{result, std::chrono::steady_clock::now() - start};
  };
  const auto [result, waited] = call(now_ns + 200'000'000);  // 200 ms from now
  CHECK(result == 0);
  CHECK(waited >= 200ms);
  CHECK(waited < 5s);
  // Already passed: Xen's timer fires at once. The wrong answers are "never" or 2^64 ns (a
  // wrapped subtraction), so the bound is generous: a starved host stalled this call 0.7 s.
  auto past = [&](std::uint64_t timeout) {
    auto done = std::async(std::launch::async, [&] { return call(timeout).first; });
    const bool returned = done.wait_for(5s) == std::future_status::ready;
    if (!returned) poll.stop();  // let the thread go, so the failure is reported, not hung
    return returned && done.get() == 0;
  };
  CHECK(past(now_ns - 1));
  CHECK(past(1));
}

TEST_CASE("SCHEDOP_poll wakes when one of its ports is raised", "[hypercall][sched_poll][threads]") {
  PollGuest p;
  auto& poll = p.g.hc.sched_poll();
  p.args64({4, 5});
  auto& waiter = p.poll_async();
  REQUIRE(has_looked(*p.ports));
  REQUIRE(still_blocked(waiter));

  SECTION("a raise of another port does not end the poll") {
    p.ports->set_pending(6);
    poll.port_raised(6);
    CHECK(still_blocked(waiter));
    poll.stop();  // let the thread go
    REQUIRE(returned(waiter));
  }
  SECTION("the port list was copied: rewriting it does not change what is polled") {
    p.write_ports({6, 6});
    p.ports->set_pending(6);
    poll.port_raised(6);
    CHECK(still_blocked(waiter));
    p.ports->set_pending(5);
    poll.port_raised(5);
    REQUIRE(returned(waiter));
    CHECK(waiter.get().result == 0);
  }
  SECTION("a listed port") {
    p.ports->set_pending(5);
    poll.port_raised(5);
    REQUIRE(returned(waiter));
    CHECK(waiter.get().result == 0);
  }
}

TEST_CASE("SCHEDOP_poll does not miss a raise that lands while it looks", "[hypercall][sched_poll][threads]") {
  PollGuest p;
  auto& poll = p.g.hc.sched_poll();
  p.args64({4});
  // The first look answers "not pending", then the port is raised before poll sleeps.
  p.ports->on_next_look([&] {
    p.ports->set_pending(4);
    poll.port_raised(4);
  });
  auto& waiter = p.poll_async();
  REQUIRE(returned(waiter));
  CHECK(waiter.get().result == 0);
  CHECK(p.ports->looks == 2);
}

TEST_CASE("SCHEDOP_poll returns when an event for its vCPU needs delivery", "[hypercall][sched_poll][threads]") {
  PollGuest p(false, 2);
  auto& poll = p.g.hc.sched_poll();
  p.args64({4});
  auto& waiter = p.poll_async(0);
  REQUIRE(still_blocked(waiter));
  poll.wake(1);
  CHECK(still_blocked(waiter));
  poll.wake(7);  // no such vCPU: ignored
  CHECK(still_blocked(waiter));
  poll.wake(0);
  REQUIRE(returned(waiter));
  CHECK(waiter.get().result == 0);

  SECTION("a wake-up is consumed by one poll") {
    auto& again = p.poll_async(0);
    CHECK(still_blocked(again));
    poll.stop();
    REQUIRE(returned(again));
  }
}

TEST_CASE("SCHEDOP_poll lets a stopping VM go", "[hypercall][sched_poll][threads]") {
  PollGuest p(false, 2);
  auto& poll = p.g.hc.sched_poll();
  p.args64({4});
  auto& first = p.poll_async(0);
  auto& second = p.poll_async(1);
  REQUIRE(still_blocked(first));
  REQUIRE(still_blocked(second));
  poll.stop();
  REQUIRE(returned(first));
  REQUIRE(returned(second));
  CHECK(first.get().result == 0);
  // Later polls (a vCPU racing the stop) return at once instead of sleeping.
  CHECK(p.poll(0).result == 0);
}
