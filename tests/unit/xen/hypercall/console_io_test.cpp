#include <catch2/catch.hpp>

#include <string>

#include "guest_fixture.hpp"
#include "xen/hypercall/xen_abi.hpp"

using namespace kxen;
using namespace kxen::test;

namespace {
void put(Guest& g, Gpa gpa, std::string_view s) { g.mem.write(gpa, std::as_bytes(std::span(s))); }
}  // namespace

TEST_CASE("console_io write copies printable text to the host", "[hypercall]") {
  const bool paged = GENERATE(false, true);
  Guest g(paged);
  constexpr std::string_view kText = "hello\x1b[2J\tworld\r\n";
  put(g, Guest::kBuf, kText);
  REQUIRE(g.call(__HYPERVISOR_console_io, CONSOLEIO_write, kText.size(), g.buf).result == 0);
  CHECK(g.host.output == "hello[2J\tworld\n");  // ESC and CR dropped, as Xen does for a domU

  SECTION("long writes cross pages and chunks") {
    g.host.output.clear();
    std::string text;
    for (int i = 0; i < 1000; ++i) text += static_cast<char>('a' + i % 26);
    put(g, Guest::kBuf + 0xf00, text);
    REQUIRE(g.call(__HYPERVISOR_console_io, CONSOLEIO_write, text.size(), g.buf + 0xf00).result == 0);
    CHECK(g.host.output == text);
  }
  SECTION("long writes do a bounded part, then continue on the rest") {
    g.host.output.clear();
    // More than is mapped: only the first kMaxWrite bytes are read in this invocation.
    g.mem.write(Guest::kBuf, std::vector<std::byte>(ConsoleIo::kMaxWrite, std::byte{'x'}));
    const auto out = g.call(__HYPERVISOR_console_io, CONSOLEIO_write, 0xffffffffu, g.buf);
    REQUIRE(out.action == VcpuAction::restart);
    CHECK(out.restart_args[0] == CONSOLEIO_write);
    CHECK(out.restart_args[1] == 0xffffffffu - ConsoleIo::kMaxWrite);
    CHECK(out.restart_args[2] == g.buf + ConsoleIo::kMaxWrite);
    CHECK(g.host.output.size() == ConsoleIo::kMaxWrite);
  }
  SECTION("bad buffers fault; earlier chunks are already out") {
    g.host.output.clear();
    CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_write, 4, g.bad()).result == -XEN_EFAULT);
    CHECK(g.host.output.empty());
    const std::uint64_t tail = g.bad() - ConsoleIo::kChunk;
    g.mem.write(Guest::kBuf + (tail - g.buf), std::vector<std::byte>(ConsoleIo::kChunk, std::byte{'y'}));
    CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_write, ConsoleIo::kChunk * 2, tail).result == -XEN_EFAULT);
    CHECK(g.host.output == std::string(ConsoleIo::kChunk, 'y'));
  }
  SECTION("zero-length writes and unknown commands") {
    CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_write, 0, g.bad()).result == 0);
    CHECK(g.call(__HYPERVISOR_console_io, 7, 1, g.buf).result == -XEN_ENOSYS);
  }
}

TEST_CASE("console_io read hands queued input to the guest", "[hypercall]") {
  const bool paged = GENERATE(false, true);
  Guest g(paged);
  for (char c : std::string("abcdef")) g.host.input.push_back(c);

  CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_read, 2, g.buf).result == 2);
  CHECK(read_string(g.mem, Guest::kBuf, 2) == "ab");
  CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_read, 100, g.buf).result == 4);
  CHECK(read_string(g.mem, Guest::kBuf, 4) == "cdef");
  CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_read, 100, g.buf).result == 0);

  g.host.input.push_back('z');
  CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_read, 0x80000000u, g.buf).result == -XEN_E2BIG);
  CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_read, 1, g.bad()).result == -XEN_EFAULT);
}

TEST_CASE("console_io read is bounded per call", "[hypercall]") {
  Guest g(false);
  for (int i = 0; i < 10000; ++i) g.host.input.push_back('q');
  CHECK(g.call(__HYPERVISOR_console_io, CONSOLEIO_read, 0x7fffffff, g.buf).result == ConsoleIo::kMaxRead);
  CHECK(g.host.input.size() == 10000 - ConsoleIo::kMaxRead);
}
