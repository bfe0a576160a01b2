#include <xen/errno.h>

#include <thread>

#include "evtchn_fakes.hpp"
#include "xen/evtchn/guest_bits.hpp"

using namespace kxen;
using namespace kxen::test;

namespace {
constexpr std::uint64_t kControlGfn = 0x40;
constexpr std::uint64_t kArrayGfn = 0x41;
constexpr std::uint32_t P = 1u << EVTCHN_FIFO_PENDING;
constexpr std::uint32_t M = 1u << EVTCHN_FIFO_MASKED;
constexpr std::uint32_t L = 1u << EVTCHN_FIFO_LINKED;

struct FifoWorld : EvtchnWorld {
  explicit FifoWorld(std::uint32_t vcpus = 2) : EvtchnWorld(vcpus) {
    evtchn_init_control init{kControlGfn << kPageShift >> kPageShift, 0, 0, 0, {}};
    REQUIRE(evtchn->init_control(init) == 0);
    CHECK(init.link_bits == EVTCHN_FIFO_LINK_BITS);
    REQUIRE(evtchn->expand_array({kArrayGfn}) == 0);
  }
  std::atomic_ref<std::uint32_t> word(evtchn_port_t port, std::uint64_t gfn = kArrayGfn) {
    return guest_bits::word_at<std::uint32_t>(memory.span((gfn << kPageShift) + port * 4, 4)->data());
  }
  evtchn_fifo_control_block control(std::uint32_t vcpu_offset = 0) {
    return *memory.read_obj<evtchn_fifo_control_block>((kControlGfn << kPageShift) + vcpu_offset);
  }
};
}  // namespace

TEST_CASE("FIFO links events in send order and kicks once per empty queue", "[evtchn]") {
  FifoWorld w;
  const evtchn_port_t a = w.ipi(0), b = w.ipi(0), c = w.ipi(0);
  for (auto p : {b, a, c}) REQUIRE(w.evtchn->send(p) == 0);
  const auto cb = w.control();
  CHECK(cb.head[EVTCHN_FIFO_PRIORITY_DEFAULT] == b);
  CHECK(cb.ready == (1u << EVTCHN_FIFO_PRIORITY_DEFAULT));
  CHECK(w.word(b).load() == (P | L | a));
  CHECK(w.word(a).load() == (P | L | c));
  CHECK(w.word(c).load() == (P | L));
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{0});
  CHECK(w.vcpu(0).evtchn_upcall_pending == 1);
  CHECK(w.evtchn->abi() == EventAbi::fifo);
}

TEST_CASE("FIFO priorities use separate queues and READY bits", "[evtchn]") {
  FifoWorld w;
  const evtchn_port_t lo = w.ipi(0), hi = w.ipi(0);
  REQUIRE(w.evtchn->set_priority({hi, EVTCHN_FIFO_PRIORITY_MAX}) == 0);
  CHECK(w.evtchn->set_priority({hi, EVTCHN_FIFO_PRIORITY_MIN + 1}) == -XEN_EINVAL);
  REQUIRE(w.evtchn->send(lo) == 0);
  w.vcpu(0).evtchn_upcall_pending = 0;  // the guest handled the first upcall
  REQUIRE(w.evtchn->send(hi) == 0);
  const auto cb = w.control();
  CHECK(cb.head[EVTCHN_FIFO_PRIORITY_MAX] == hi);
  CHECK(cb.head[EVTCHN_FIFO_PRIORITY_DEFAULT] == lo);
  CHECK(cb.ready == ((1u << EVTCHN_FIFO_PRIORITY_MAX) | (1u << EVTCHN_FIFO_PRIORITY_DEFAULT)));
  CHECK(w.word(lo).load() == (P | L));  // not linked to a different queue's event
  CHECK(w.sink.kicks.size() == 2);
}

TEST_CASE("FIFO masked event stays unlinked until unmask", "[evtchn]") {
  FifoWorld w;
  const evtchn_port_t p = w.ipi(1);
  evtchn_init_control init1{kControlGfn, 128, 1, 0, {}};
  REQUIRE(w.evtchn->init_control(init1) == 0);
  w.word(p).fetch_or(M);
  REQUIRE(w.evtchn->send(p) == 0);
  CHECK(w.word(p).load() == (P | M));
  CHECK(w.sink.kicks.empty());
  CHECK(w.sink.raised == std::vector<evtchn_port_t>{p});
  REQUIRE(w.evtchn->unmask(p) == 0);
  CHECK(w.word(p).load() == (P | L));
  CHECK(w.control(128).head[EVTCHN_FIFO_PRIORITY_DEFAULT] == p);
  CHECK(w.control(0).ready == 0);
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{1});
}

TEST_CASE("FIFO wakes the poller of a masked port once, on its 0 -> 1 edge", "[evtchn]") {
  FifoWorld w;
  const evtchn_port_t masked = w.ipi(1), open = w.ipi(1);
  w.word(masked).fetch_or(M);
  REQUIRE(w.evtchn->send(masked) == 0);
  REQUIRE(w.evtchn->send(masked) == 0);  // still pending: Xen checks pollers only on the edge
  CHECK(w.sink.poll_wakes == std::vector<std::uint32_t>{1});
  CHECK(w.sink.kicks.empty());
  REQUIRE(w.evtchn->send(open) == 0);  // an unmasked event wakes through its upcall instead
  CHECK(w.sink.poll_wakes.size() == 1);
}

TEST_CASE("FIFO does not link an event that is still LINKED", "[evtchn]") {
  FifoWorld w;
  const evtchn_port_t a = w.ipi(0), b = w.ipi(0);
  REQUIRE(w.evtchn->send(a) == 0);
  w.word(a).fetch_and(~P);  // guest consumed the event but has not unlinked it yet
  REQUIRE(w.evtchn->send(a) == 0);
  CHECK(w.word(a).load() == (P | L));  // pending again, not relinked to itself
  REQUIRE(w.evtchn->send(b) == 0);
  CHECK(w.word(a).load() == (P | L | b));
  CHECK(w.sink.kicks.size() == 1);
}

TEST_CASE("FIFO relinks onto an empty queue once the guest unlinked the tail", "[evtchn]") {
  FifoWorld w;
  const evtchn_port_t a = w.ipi(0), b = w.ipi(0);
  REQUIRE(w.evtchn->send(a) == 0);
  // Guest consumes a: clears LINKED and PENDING and the READY bit.
  w.word(a).store(0);
  guest_bits::word_at<std::uint32_t>(w.memory.span(kControlGfn << kPageShift, 4)->data()).store(0);
  w.vcpu(0).evtchn_upcall_pending = 0;
  REQUIRE(w.evtchn->send(b) == 0);
  CHECK(w.control().head[EVTCHN_FIFO_PRIORITY_DEFAULT] == b);
  CHECK(w.word(a).load() == 0);
  CHECK(w.sink.kicks.size() == 2);
}

TEST_CASE("FIFO survives garbage LINK fields and a guest rewriting the tail", "[evtchn][threads]") {
  FifoWorld w;
  std::vector<evtchn_port_t> ports;
  for (int i = 0; i < 8; ++i) ports.push_back(w.ipi(0));
  REQUIRE(w.evtchn->send(ports[0]) == 0);
  w.word(ports[0]).store(P | L | EVTCHN_FIFO_LINK_MASK);  // garbage link, never followed
  REQUIRE(w.evtchn->send(ports[1]) == 0);
  CHECK((w.word(ports[0]).load() & EVTCHN_FIFO_LINK_MASK) == ports[1]);

  std::atomic<bool> stop{false};
  auto tail = w.word(ports[1]);
  std::thread hostile([&] {
    for (std::uint32_t n = 0; !stop.load(std::memory_order_relaxed); ++n) tail.store((n & 1 ? M : 0) | L | (n & 0xfff));
  });
  for (int round = 0; round < 200; ++round)
    for (std::size_t i = 2; i < ports.size(); ++i) {
      REQUIRE(w.evtchn->send(ports[i]) == 0);
      w.word(ports[i]).store(0);
    }
  stop = true;
  hostile.join();
  CHECK((w.word(ports[1]).load() & (1u << EVTCHN_FIFO_BUSY)) == 0);
}

TEST_CASE("FIFO init_control and expand_array validation", "[evtchn]") {
  EvtchnWorld w(2, 2048);
  CHECK(w.evtchn->expand_array({kArrayGfn}) == -XEN_EOPNOTSUPP);
  evtchn_init_control bad_vcpu{kControlGfn, 0, 2, 0, {}};
  CHECK(w.evtchn->init_control(bad_vcpu) == -XEN_ENOENT);
  evtchn_init_control misaligned{kControlGfn, 4, 0, 0, {}};
  CHECK(w.evtchn->init_control(misaligned) == -XEN_EINVAL);
  evtchn_init_control too_far{kControlGfn, 4096 - 64, 0, 0, {}};
  CHECK(w.evtchn->init_control(too_far) == -XEN_EINVAL);
  evtchn_init_control not_ram{0x100000, 0, 0, 0, {}};
  CHECK(w.evtchn->init_control(not_ram) == -XEN_EINVAL);
  evtchn_init_control huge_gfn{~std::uint64_t{0}, 0, 0, 0, {}};
  CHECK(w.evtchn->init_control(huge_gfn) == -XEN_EINVAL);
  CHECK(w.evtchn->abi() == EventAbi::two_level);  // failures leave 2-level in place
  evtchn_init_control ok{kControlGfn, 0, 0, 0, {}};
  REQUIRE(w.evtchn->init_control(ok) == 0);
  CHECK(w.evtchn->init_control(ok) == -XEN_EINVAL);  // vCPU 0 already has one
  CHECK(w.evtchn->expand_array({0x100000}) == -XEN_EINVAL);
  CHECK(w.evtchn->expand_array({0x41}) == 0);
  CHECK(w.evtchn->expand_array({0x42}) == 0);
  CHECK(w.evtchn->expand_array({0x43}) == -XEN_ENOSPC);  // max_ports 2048 = two pages
}

TEST_CASE("FIFO keeps events for ports beyond the event array until it grows", "[evtchn]") {
  FifoWorld w(1);
  evtchn_port_t last = 0;
  for (int i = 0; i < 1030; ++i) last = w.ipi(0);
  REQUIRE(last == 1030);
  CHECK(w.evtchn->send(last) == 0);
  CHECK(w.sink.kicks.empty());
  CHECK(w.evtchn->unmask(last) == 0);
  REQUIRE(w.evtchn->expand_array({0x42}) == 0);
  CHECK(w.word(last - 1024, 0x42).load() == (P | L));
  CHECK(w.control().head[EVTCHN_FIFO_PRIORITY_DEFAULT] == last);
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{0});
}

TEST_CASE("switching to FIFO carries 2-level pending events over", "[evtchn]") {
  EvtchnWorld w(1);
  const evtchn_port_t p = w.ipi(0);
  w.set_mask(p, true);
  REQUIRE(w.evtchn->send(p) == 0);
  evtchn_init_control init{kControlGfn, 0, 0, 0, {}};
  REQUIRE(w.evtchn->init_control(init) == 0);
  REQUIRE(w.evtchn->expand_array({kArrayGfn}) == 0);
  auto word = guest_bits::word_at<std::uint32_t>(w.memory.span((kArrayGfn << kPageShift) + p * 4, 4)->data());
  CHECK(word.load() == (P | L));
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{0});
}

TEST_CASE("FIFO port still LINKED is not reused; reset returns to 2-level", "[evtchn]") {
  FifoWorld w;
  const evtchn_port_t a = w.ipi(0);
  REQUIRE(w.evtchn->send(a) == 0);
  REQUIRE(w.evtchn->close(a) == 0);
  CHECK(w.word(a).load() == L);  // pending cleared, link left for the guest to drop
  CHECK(w.ipi(0) != a);
  CHECK(w.evtchn->any_pending(std::vector<evtchn_port_t>{a}) == false);
  REQUIRE(w.evtchn->reset(DOMID_SELF) == 0);
  CHECK(w.evtchn->abi() == EventAbi::two_level);
  CHECK(w.evtchn->set_priority({1, 1}) == -XEN_ENOSYS);
}

TEST_CASE("FIFO event moved to another vCPU links into that vCPU's queue", "[evtchn]") {
  FifoWorld w;
  evtchn_init_control init1{kControlGfn, 128, 1, 0, {}};
  REQUIRE(w.evtchn->init_control(init1) == 0);
  auto port = w.evtchn->alloc_unbound_for_guest();
  REQUIRE(port);
  auto host = w.evtchn->bind_interdomain_from_host(*port);
  REQUIRE(host);
  const evtchn_port_t other = w.ipi(0);
  REQUIRE(w.evtchn->notify_guest(host->host_port) == 0);
  CHECK(w.control(0).head[EVTCHN_FIFO_PRIORITY_DEFAULT] == *port);
  w.word(*port).store(0);  // guest consumed and unlinked it
  REQUIRE(w.evtchn->bind_vcpu({*port, 1}) == 0);
  REQUIRE(w.evtchn->notify_guest(host->host_port) == 0);
  CHECK(w.control(128).head[EVTCHN_FIFO_PRIORITY_DEFAULT] == *port);
  // vCPU 0's queue no longer has *port as its tail: a new event there starts a fresh queue.
  REQUIRE(w.evtchn->send(other) == 0);
  CHECK(w.control(0).head[EVTCHN_FIFO_PRIORITY_DEFAULT] == other);
  CHECK(w.word(*port).load() == (P | L));
}
