// The GDB command parser: every supported command, and malformed input answered, never thrown.
#include <catch2/catch.hpp>

#include "gdb/command.hpp"

using namespace kxen::gdb;

TEST_CASE("memory, register and breakpoint commands parse their hex fields", "[gdb][command]") {
  auto m = std::get<ReadMemory>(parse_command("mffffffff81000000,40"));
  CHECK(m.addr == 0xffffffff81000000ull);
  CHECK(m.length == 0x40);
  auto w = std::get<WriteMemory>(parse_command("M1000,2:cc90"));
  CHECK(w.addr == 0x1000);
  REQUIRE(w.data.size() == 2);
  CHECK(w.data[0] == std::byte{0xcc});
  auto x = std::get<WriteMemory>(parse_command(std::string("X20,2:\x01\x7d", 8)));
  CHECK(x.data.size() == 2);
  CHECK(std::get<WriteMemory>(parse_command("X20,0:")).data.empty());
  auto p = std::get<ReadRegister>(parse_command("p10"));
  CHECK(p.reg == 16);
  auto pw = std::get<WriteRegister>(parse_command("P10=0010000000000000"));
  CHECK(pw.data.size() == 8);
  auto z = std::get<Breakpoint>(parse_command("Z2,7ffe,4"));
  CHECK(z.insert);
  CHECK(z.type == 2);
  CHECK(z.kind == 4);
  CHECK_FALSE(std::get<Breakpoint>(parse_command("z0,1000,1;X1,0")).insert);
}

TEST_CASE("threads, vCont and queries", "[gdb][command]") {
  auto v = std::get<VCont>(parse_command("vCont;s:2;c"));
  REQUIRE(v.actions.size() == 2);
  CHECK(v.actions[0].action == 's');
  CHECK(v.actions[0].thread == 2);
  CHECK(v.actions[1].thread == kAllThreads);
  CHECK(std::get<VCont>(parse_command("vCont;C05:1")).actions[0].action == 'c');
  CHECK(std::holds_alternative<VContQuery>(parse_command("vCont?")));
  CHECK(std::get<SetThread>(parse_command("Hg-1")).thread == kAllThreads);
  CHECK(std::get<SetThread>(parse_command("Hc0")).thread == kAnyThread);
  CHECK(std::get<QueryThreadExtra>(parse_command("qThreadExtraInfo,2")).thread == 2);
  CHECK(std::get<QueryFeatures>(parse_command("qXfer:features:read:target.xml:0,ffb")).length == 0xffb);
  CHECK(std::get<MonitorCommand>(parse_command("qRcmd,65767463686e")).text == "evtchn");
  CHECK(std::get<SetPhysMode>(parse_command("Qqemu.PhyMemMode:1")).on);
  CHECK(std::holds_alternative<StartNoAck>(parse_command("QStartNoAckMode")));
  CHECK(std::holds_alternative<QuerySupported>(parse_command("qSupported:multiprocess+;swbreak+")));
  CHECK(std::holds_alternative<Detach>(parse_command("D")));
  CHECK(std::holds_alternative<Kill>(parse_command("k")));
}

TEST_CASE("malformed commands are Malformed, unknown ones Unknown", "[gdb][command]") {
  for (std::string_view bad : {"m", "m10", "mzz,1", "M10,2:cc", "M10,1:zz", "Z9,0,1", "Z0,1", "p", "Pzz=00", "P1=0",
                               "vCont;q", "vCont;c:zz", "Hx1", "Hg", "qRcmd,6", "Tzz", "c12g", "g1",
                               "m11111111111111111,1"})
    CHECK(std::holds_alternative<Malformed>(parse_command(bad)));
  for (std::string_view unknown : {"", "vMustReplyEmpty", "qTStatus", "!", "bc", "Qfoo"})
    CHECK(std::holds_alternative<Unknown>(parse_command(unknown)));
}
