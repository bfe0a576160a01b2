// SCHEDOP_poll over real event channels, wired as a VM wires them: the event channels' sink
// forwards port raises and kicks to the pollers.
#include <catch2/catch.hpp>

#include "../evtchn/evtchn_fakes.hpp"
#include "xen/hypercall/evtchn_poll_ports.hpp"
#include "xen/hypercall/xen_abi.hpp"

#include <chrono>
#include <future>

using namespace kxen;
using namespace kxen::test;
using namespace std::chrono_literals;

namespace {

class ForwardingSink final : public UpcallSink {
 public:
  void kick(std::uint32_t vcpu) override {
    if (poll) poll->wake(vcpu);
  }
  void port_raised(evtchn_port_t port) override {
    if (poll) poll->port_raised(port);
  }
  SchedPoll* poll = nullptr;
};

struct PollWorld {
  GuestMemory memory;
  FakeLocator locator;
  ForwardingSink sink;
  SchedPoll poll{1};
  std::unique_ptr<EventChannels> evtchn;
  IdentityVirtual gv{memory};

  PollWorld() {
    REQUIRE_FALSE(memory.add_ram(0, 1 << 20));
    locator.shinfo = kShinfo;
    evtchn = std::make_unique<EventChannels>(EventChannelsConfig{1, 1, EVTCHN_FIFO_NR_CHANNELS}, memory, locator, sink);
    poll.attach(std::make_unique<EvtchnPollPorts>(*evtchn));
    sink.poll = &poll;
  }
  ~PollWorld() { poll.stop(); }
  shared_info& shinfo() { return *reinterpret_cast<shared_info*>(memory.span(kShinfo, sizeof(shared_info))->data()); }
  void mask(evtchn_port_t p) { shinfo().evtchn_mask[p / 64] |= 1ul << (p % 64); }
  evtchn_port_t ipi() {
    evtchn_bind_ipi op{0, 0};
    REQUIRE(evtchn->bind_ipi(op) == 0);
    return op.port;
  }
  std::int64_t call(std::vector<std::uint32_t> ports) {
    memory.write(0x1000, std::as_bytes(std::span(ports)));
    sched_poll_t op{};
    op.ports.p = reinterpret_cast<evtchn_port_t*>(0x1000);
    op.nr_ports = static_cast<std::uint32_t>(ports.size());
    memory.write_obj(0x2000, op);
    HypercallRequest req;
    req.args = {SCHEDOP_poll, 0x2000, 0, 0, 0, 0};
    return poll.poll(req, gv);
  }
};

}  // namespace

TEST_CASE("EvtchnPollPorts: valid ports are those in the guest's table", "[hypercall][sched_poll]") {
  PollWorld w;
  const evtchn_port_t port = w.ipi();
  EvtchnPollPorts ports(*w.evtchn);
  CHECK(ports.valid(0));  // reserved, but a valid port number in Xen too
  CHECK(ports.valid(port));
  CHECK_FALSE(ports.valid(port + 1));
  CHECK_FALSE(ports.valid(EVTCHN_FIFO_NR_CHANNELS));
  CHECK_FALSE(ports.valid(0xffffffffu));
  CHECK(w.call({port + 1}) == -XEN_EINVAL);
}

TEST_CASE("SCHEDOP_poll on a masked port wakes when the port is sent", "[hypercall][sched_poll][threads]") {
  PollWorld w;
  const evtchn_port_t port = w.ipi();
  const evtchn_port_t other = w.ipi();
  w.mask(port);  // the usual pattern: mask, then poll; no upcall would ever come
  w.mask(other);
  auto waiter = std::async(std::launch::async, [&] { return w.call({port}); });
  struct StopOnExit {  // a failed check must not leave the future's destructor waiting
    SchedPoll& poll;
    ~StopOnExit() { poll.stop(); }
  } guard{w.poll};
  REQUIRE(waiter.wait_for(100ms) == std::future_status::timeout);

  REQUIRE(w.evtchn->send(other) == 0);
  CHECK(waiter.wait_for(100ms) == std::future_status::timeout);

  REQUIRE(w.evtchn->send(port) == 0);
  REQUIRE(waiter.wait_for(10s) == std::future_status::ready);
  CHECK(waiter.get() == 0);

  // Still pending (poll does not consume it): the next poll returns at once.
  CHECK(w.call({other, port}) == 0);
}
