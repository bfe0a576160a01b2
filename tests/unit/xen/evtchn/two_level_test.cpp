#include <xen/errno.h>

#include "evtchn_fakes.hpp"

using namespace kxen;
using namespace kxen::test;

TEST_CASE("2-level send sets pending, selector and upcall, and kicks once", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t port = w.ipi(1);
  REQUIRE(port == 1);
  REQUIRE(w.evtchn->send(port) == 0);
  CHECK(w.pending_bit(port));
  CHECK(w.vcpu(1).evtchn_pending_sel == 1ul);
  CHECK(w.vcpu(1).evtchn_upcall_pending == 1);
  CHECK(w.vcpu(0).evtchn_upcall_pending == 0);
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{1});
  CHECK(w.sink.raised == std::vector<evtchn_port_t>{port});
  // Already pending: no second kick or raise.
  REQUIRE(w.evtchn->send(port) == 0);
  CHECK(w.sink.kicks.size() == 1);
  CHECK(w.sink.raised.size() == 1);
}

TEST_CASE("2-level selector bit follows the port's word", "[evtchn]") {
  EvtchnWorld w;
  evtchn_port_t last = 0;
  for (int i = 0; i < 70; ++i) last = w.ipi(0);
  REQUIRE(last == 70);
  REQUIRE(w.evtchn->send(70) == 0);
  CHECK(w.vcpu(0).evtchn_pending_sel == (1ul << 1));
  CHECK(w.pending_bit(70));
}

TEST_CASE("2-level masked port is not kicked; unmask delivers", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t port = w.ipi(0);
  w.set_mask(port, true);
  REQUIRE(w.evtchn->send(port) == 0);
  CHECK(w.pending_bit(port));
  CHECK(w.vcpu(0).evtchn_pending_sel == 0);
  CHECK(w.sink.kicks.empty());
  CHECK(w.sink.raised == std::vector<evtchn_port_t>{port});  // pollers still learn about it
  REQUIRE(w.evtchn->unmask(port) == 0);
  CHECK(w.vcpu(0).evtchn_pending_sel == 1);
  CHECK(w.vcpu(0).evtchn_upcall_pending == 1);
  CHECK(w.sink.kicks == std::vector<std::uint32_t>{0});
  // Unmasking an unmasked port does nothing more.
  REQUIRE(w.evtchn->unmask(port) == 0);
  CHECK(w.sink.kicks.size() == 1);
}

TEST_CASE("2-level upcall already pending is not kicked again", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t a = w.ipi(0);
  w.vcpu(0).evtchn_upcall_pending = 1;
  REQUIRE(w.evtchn->send(a) == 0);
  CHECK(w.vcpu(0).evtchn_pending_sel == 1);
  CHECK(w.sink.kicks.empty());
}

TEST_CASE("2-level without shared_info drops events without crashing", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t port = w.ipi(0);
  w.locator.shinfo = std::nullopt;
  CHECK(w.evtchn->send(port) == 0);
  CHECK(w.sink.kicks.empty());
  // A shared_info placed outside guest memory or misaligned is refused the same way.
  w.locator.shinfo = Gpa{1} << 40;
  CHECK(w.evtchn->send(port) == 0);
  w.locator.shinfo = kShinfo + 3;
  CHECK(w.evtchn->send(port) == 0);
  CHECK(w.sink.kicks.empty());
}

TEST_CASE("2-level uses a registered vcpu_info outside shared_info", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t port = w.ipi(1);
  const Gpa info = 0x20040;
  w.locator.vcpu_info_override[1] = info;
  REQUIRE(w.evtchn->send(port) == 0);
  auto v = w.memory.read_obj<vcpu_info>(info);
  REQUIRE(v);
  CHECK(v->evtchn_upcall_pending == 1);
  CHECK(v->evtchn_pending_sel == 1);
  CHECK(w.vcpu(1).evtchn_pending_sel == 0);
  // Misaligned registration: no access, no crash.
  w.locator.vcpu_info_override[1] = 0x20041;
  REQUIRE(w.evtchn->close(port) == 0);
  const evtchn_port_t again = w.ipi(1);
  CHECK(w.evtchn->send(again) == 0);
}

TEST_CASE("2-level 32-bit shared_info layout", "[evtchn]") {
  EvtchnWorld w;
  w.locator.long_mode = false;
  for (int i = 0; i < 70; ++i) w.ipi(0);
  REQUIRE(w.evtchn->send(33) == 0);
  auto bytes = *w.memory.span(kShinfo, sizeof(shared_info));
  auto word = [&](std::size_t off) {
    std::uint32_t v;
    std::memcpy(&v, bytes.data() + off, 4);
    return v;
  };
  CHECK(word(2048 + 4) == 2u);  // port 33 = word 1, bit 1
  CHECK(word(4) == 2u);         // selector bit 1 at the 32-bit selector offset
  CHECK(bytes[0] == std::byte{1});
  // A 32-bit mask word (mask array after 32 pending words) masks port 66 = word 2, bit 2.
  const std::uint32_t mask = 1u << 2;
  std::memcpy(bytes.data() + 2048 + 128 + 8, &mask, 4);
  REQUIRE(w.evtchn->send(66) == 0);
  CHECK(word(2048 + 8) == 4u);
  CHECK(word(4) == 2u);
  CHECK(w.sink.kicks.size() == 1);
}

TEST_CASE("2-level close clears pending so a new binding starts clean", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t port = w.ipi(0);
  w.set_mask(port, true);
  REQUIRE(w.evtchn->send(port) == 0);
  REQUIRE(w.pending_bit(port));
  REQUIRE(w.evtchn->close(port) == 0);
  CHECK_FALSE(w.pending_bit(port));
}

TEST_CASE("any_pending reports pending ports and ignores invalid ones", "[evtchn]") {
  EvtchnWorld w;
  const evtchn_port_t a = w.ipi(0), b = w.ipi(0);
  const std::vector<evtchn_port_t> ports{a, b, 0, 9999};
  CHECK_FALSE(w.evtchn->any_pending(ports));
  w.set_mask(b, true);
  REQUIRE(w.evtchn->send(b) == 0);
  CHECK(w.evtchn->any_pending(ports));
  const std::vector<evtchn_port_t> bogus{0, 9999, 4096};
  CHECK_FALSE(w.evtchn->any_pending(bogus));
}
