// The gdb session over a fake target: replies, registers, memory, breakpoints planted and
// lifted around a run, stop replies naming the thread and the reason, detach.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cstring>
#include <deque>

#include "gdb/hex.hpp"
#include "gdb/registers.hpp"
#include "gdb/session.hpp"

using namespace kxen;
using namespace kxen::gdb;

namespace {

struct FakeTarget final : Target {
  std::vector<VcpuState> vcpus{2};
  std::vector<std::byte> memory = std::vector<std::byte>(0x10000, std::byte{0x90});
  std::deque<DebugExit> stops;
  std::vector<RunAction> last_resume;
  kvm_guest_debug debug{};
  VmLifecycle::ExitFilter filter;
  bool detached = false, killed = false, is_ended = false, is_rebooting = false;

  std::uint32_t vcpu_count() override { return 2; }
  std::expected<VcpuState, std::string> state(std::uint32_t v) override { return vcpus.at(v); }
  std::expected<void, std::string> set_state(std::uint32_t v, const VcpuState& s) override {
    vcpus.at(v) = s;
    return {};
  }
  std::size_t read_memory(std::uint32_t, std::uint64_t addr, std::span<std::byte> out, bool) override {
    if (addr >= memory.size()) return 0;
    const std::size_t n = std::min<std::size_t>(out.size(), memory.size() - addr);
    std::memcpy(out.data(), memory.data() + addr, n);
    return n;
  }
  bool write_memory(std::uint32_t, std::uint64_t addr, std::span<const std::byte> in, bool) override {
    if (addr + in.size() > memory.size()) return false;
    std::memcpy(memory.data() + addr, in.data(), in.size());
    return true;
  }
  std::optional<std::uint64_t> translate(std::uint32_t, std::uint64_t addr) override {
    return addr < memory.size() ? std::optional(addr) : std::nullopt;
  }
  void attach(VmLifecycle::ExitFilter claims) override { filter = std::move(claims); }
  void set_debug(const kvm_guest_debug& d) override { debug = d; }
  std::expected<void, std::string> resume(std::span<const RunAction> actions) override {
    last_resume.assign(actions.begin(), actions.end());
    return {};
  }
  std::vector<std::uint32_t> pause_all() override { return {}; }
  std::optional<DebugExit> wait_stop(std::chrono::milliseconds) override {
    if (stops.empty()) return std::nullopt;
    auto e = stops.front();
    stops.pop_front();
    return e;
  }
  bool ended() override { return is_ended; }
  bool powered_off() override { return !is_rebooting; }
  bool rebooting() override { return is_rebooting; }
  void kill() override { killed = true; }
  void detach() override { detached = true; }
  std::string describe_thread(std::uint32_t v) override { return "vCPU " + std::to_string(v); }
  std::string monitor(std::string_view command) override { return std::string(command) + " output\n"; }
};

// Sends one packet; returns the reply payload (acks and framing stripped).
std::string ask(Session& s, std::string_view payload) {
  std::string out = s.on_event({PacketEvent::Kind::packet, std::string(payload)});
  if (out.starts_with("+")) out.erase(0, 1);
  if (out.empty()) return "<none>";
  REQUIRE(out.front() == '$');
  return out.substr(1, out.size() - 4);
}

}  // namespace

TEST_CASE("a session answers the handshake gdb sends", "[gdb][session]") {
  FakeTarget t;
  Session s(t);
  CHECK(ask(s, "qSupported:multiprocess+").find("qXfer:features:read+") != std::string::npos);
  CHECK(ask(s, "?") == "T05thread:1;");
  CHECK(ask(s, "qfThreadInfo") == "m1,2");
  CHECK(ask(s, "qsThreadInfo") == "l");
  CHECK(ask(s, "qXfer:features:read:target.xml:0,20").starts_with("m<?xml"));
  CHECK(ask(s, "qXfer:features:read:other.xml:0,20") == "E00");
  CHECK(ask(s, "vMustReplyEmpty") == "");
  CHECK(ask(s, "m1") == "E01");
  CHECK(ask(s, "qRcmd," + encode_hex_text("evtchn")) == encode_hex_text("evtchn output\n"));
  CHECK(ask(s, "QStartNoAckMode") == "OK");
  CHECK(s.on_event({PacketEvent::Kind::packet, "qC"}) == frame_packet("QC1"));  // no '+' any more
}

TEST_CASE("registers use the 64-bit layout and follow Hg", "[gdb][session]") {
  FakeTarget t;
  t.vcpus[1].regs.rip = 0x1234;
  Session s(t);
  CHECK(ask(s, "g").size() == register_file_size() * 2);
  CHECK(ask(s, "Hg2") == "OK");
  CHECK(ask(s, "p10") == "3412000000000000");
  CHECK(ask(s, "P10=7856000000000000") == "OK");
  CHECK(t.vcpus[1].regs.rip == 0x5678);
  CHECK(ask(s, "p1000") == "E01");
  CHECK(ask(s, "Hg9") == "E01");
}

TEST_CASE("software breakpoints take free debug registers first", "[gdb][session]") {
  FakeTarget t;
  Session s(t);
  CHECK(ask(s, "Z0,100,1") == "OK");
  CHECK(ask(s, "c") == "<none>");
  CHECK(t.memory[0x100] == std::byte{0x90});  // no int3: a debug register holds it
  CHECK(t.debug.arch.debugreg[0] == 0x100);
  CHECK((t.debug.control & KVM_GUESTDBG_USE_HW_BP) != 0);
  CHECK((t.debug.control & KVM_GUESTDBG_USE_SW_BP) == 0);
  DebugExit hit{0, {}};
  hit.arch.exception = 1;
  hit.arch.dr6 = 1;
  t.stops.push_back(hit);
  CHECK(s.poll_stop(std::chrono::milliseconds(0)) == frame_packet("T05thread:1;swbreak:;"));
}

TEST_CASE("a software breakpoint is planted while running and lifted at the stop", "[gdb][session]") {
  FakeTarget t;
  Session s(t);
  for (auto addr : {"10", "20", "30", "40"}) CHECK(ask(s, fmt::format("Z0,{},1", addr)) == "OK");
  CHECK(ask(s, "Z2,1000,4") == "OK");  // takes a slot from a software breakpoint: that one is an int3 now
  CHECK(ask(s, "Z0,100,1") == "OK");
  CHECK(t.memory[0x100] == std::byte{0x90});  // only while running
  CHECK(ask(s, "vCont;c") == "<none>");
  CHECK(s.running());
  CHECK(t.memory[0x100] == std::byte{0xcc});
  CHECK(t.memory[0x10] == std::byte{0xcc});  // the one that gave its slot up
  CHECK((t.debug.control & KVM_GUESTDBG_USE_SW_BP) != 0);
  DebugExit hit{1, {}};
  hit.arch.exception = 3;
  hit.arch.pc = 0x100;
  CHECK(t.filter(hit));
  t.stops.push_back(hit);
  CHECK(s.poll_stop(std::chrono::milliseconds(0)) == frame_packet("T05thread:2;swbreak:;"));
  CHECK(t.memory[0x100] == std::byte{0x90});
  CHECK(ask(s, "m100,1") == "90");
  hit.arch.pc = 0x200;
  CHECK_FALSE(t.filter(hit));  // not ours: the guest's own int3
}

TEST_CASE("watchpoints use debug registers and report the address", "[gdb][session]") {
  FakeTarget t;
  Session s(t);
  CHECK(ask(s, "Z2,1000,4") == "OK");
  CHECK(ask(s, "Z2,1001,4") == "E28");  // misaligned
  CHECK(ask(s, "Z1,2000,1") == "OK");
  CHECK(ask(s, "vCont;s:1;c") == "<none>");
  CHECK(t.last_resume == std::vector<RunAction>{RunAction::step, RunAction::resume});
  CHECK(t.debug.arch.debugreg[0] == 0x1000);
  CHECK((t.debug.arch.debugreg[7] & 0xf0000) == 0xd0000);  // slot 0: write, 4 bytes
  DebugExit hit{0, {}};
  hit.arch.exception = 1;
  hit.arch.dr6 = 1;
  t.stops.push_back(hit);
  CHECK(s.poll_stop(std::chrono::milliseconds(0)) == frame_packet("T05thread:1;watch:1000;"));
}

TEST_CASE("Ctrl-C stops, detach resumes, the end of the guest is W00", "[gdb][session]") {
  FakeTarget t;
  Session s(t);
  CHECK(ask(s, "c") == "<none>");
  CHECK(s.on_event({PacketEvent::Kind::interrupt, {}}) == frame_packet("T02thread:1;"));
  CHECK(ask(s, "c") == "<none>");
  t.is_ended = true;
  CHECK(s.poll_stop(std::chrono::milliseconds(0)) == frame_packet("W00"));
  CHECK(s.finished());
  FakeTarget t2;
  Session s2(t2);
  CHECK(ask(s2, "D") == "OK");
  CHECK(t2.detached);
  CHECK(s2.finished());
}

TEST_CASE("after a reboot the breakpoints carry over and a running guest runs on", "[gdb][session]") {
  FakeTarget old_boot;
  Session s(old_boot);
  for (auto addr : {"10", "20", "30", "40", "100"}) CHECK(ask(s, fmt::format("Z0,{},1", addr)) == "OK");
  CHECK(ask(s, "c") == "<none>");
  CHECK(old_boot.memory[0x100] == std::byte{0xcc});  // the fifth is an int3 in the old boot's memory

  old_boot.is_ended = old_boot.is_rebooting = true;
  CHECK(s.poll_stop(std::chrono::milliseconds(0)).empty());  // not an end: a next boot may come
  CHECK(s.running());

  FakeTarget new_boot;
  CHECK(s.rebind(new_boot).empty());
  CHECK(s.running());
  CHECK(new_boot.filter != nullptr);
  CHECK(new_boot.last_resume == std::vector<RunAction>{RunAction::resume, RunAction::resume});
  CHECK(new_boot.debug.arch.debugreg[0] == 0x10);
  CHECK((new_boot.debug.control & KVM_GUESTDBG_USE_HW_BP) != 0);
  CHECK(new_boot.memory[0x100] == std::byte{0xcc});  // planted again in the new memory
  DebugExit hit{0, {}};
  hit.arch.exception = 1;
  hit.arch.dr6 = 1;
  new_boot.stops.push_back(hit);
  CHECK(s.poll_stop(std::chrono::milliseconds(0)) == frame_packet("T05thread:1;swbreak:;"));
  CHECK(new_boot.memory[0x100] == std::byte{0x90});
  CHECK(old_boot.memory[0x100] == std::byte{0xcc});  // the old boot's memory is not touched again

  FakeTarget third_boot;  // rebooted while stopped: it stays stopped
  CHECK(s.rebind(third_boot).empty());
  CHECK_FALSE(s.running());
  CHECK(third_boot.last_resume.empty());
}

TEST_CASE("a reboot that is the last boot ends a running session with X06", "[gdb][session]") {
  FakeTarget t;
  Session s(t);
  CHECK(ask(s, "c") == "<none>");
  t.is_ended = t.is_rebooting = true;
  CHECK(s.poll_stop(std::chrono::milliseconds(0)).empty());
  CHECK(s.final_stop() == frame_packet("X06"));
  CHECK(s.finished());
  CHECK(s.final_stop().empty());
}
