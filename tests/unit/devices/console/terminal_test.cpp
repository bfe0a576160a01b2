// Raw mode, the Ctrl-] escape and terminal restoration, on a real pty. Tag [console].
#include "console/console_backend.hpp"
#include "console/terminal.hpp"
#include "console_test_util.hpp"
#include "fake_console_guest.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using kxen::console::ConsoleBackend;
using kxen::console::ConsoleCallbacks;
using kxen::console::ConsoleConfig;
using kxen::console::TerminalGuard;
using namespace kxen::console::test;

namespace {

termios settings(int fd) {
  termios t{};
  REQUIRE(::tcgetattr(fd, &t) == 0);
  return t;
}

bool same(const termios& a, const termios& b) {
  return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag &&
         a.c_lflag == b.c_lflag && std::memcmp(a.c_cc, b.c_cc, sizeof(a.c_cc)) == 0 &&
         cfgetispeed(&a) == cfgetispeed(&b) && cfgetospeed(&a) == cfgetospeed(&b);
}

}  // namespace

TEST_CASE("terminal guard: raw mode on a TTY, restored by the destructor", "[console]") {
  Pty pty;
  const termios before = settings(pty.slave.get());
  REQUIRE((before.c_lflag & ICANON) != 0);
  {
    auto guard = TerminalGuard::make_raw(pty.slave.get());
    REQUIRE(guard.has_value());
    CHECK(guard->active());
    const termios raw = settings(pty.slave.get());
    CHECK((raw.c_lflag & (ICANON | ECHO | ISIG)) == 0);
    CHECK((raw.c_iflag & (ICRNL | IXON)) == 0);
    CHECK(raw.c_oflag == before.c_oflag);  // host output processing is kept
    TerminalGuard moved = std::move(*guard);
    CHECK_FALSE(guard->active());
  }
  CHECK(same(settings(pty.slave.get()), before));
}

TEST_CASE("terminal guard: restore_terminals() puts a live guard's terminal back", "[console]") {
  Pty pty;
  const termios before = settings(pty.slave.get());
  auto guard = TerminalGuard::make_raw(pty.slave.get());
  REQUIRE(guard.has_value());
  CHECK_FALSE(same(settings(pty.slave.get()), before));
  kxen::console::restore_terminals();  // what the signal thread or atexit runs
  CHECK(same(settings(pty.slave.get()), before));
  guard->restore();
  CHECK(same(settings(pty.slave.get()), before));
}

TEST_CASE("terminal guard: not a TTY means no change and an inactive guard", "[console]") {
  Pipe pipe;
  auto guard = TerminalGuard::make_raw(pipe.read_end.get());
  REQUIRE(guard.has_value());
  CHECK_FALSE(guard->active());
}

TEST_CASE("console backend: Ctrl-] on the TTY calls on_escape and stop restores the terminal", "[console][threads]") {
  Pty pty;
  Pipe output;
  FakeConsoleGuest guest;
  const termios before = settings(pty.slave.get());
  std::atomic<int> escapes{0};
  ConsoleConfig config{.input_fd = pty.slave.get(), .output_fd = output.write_end.get()};
  auto made = ConsoleBackend::create(config, ConsoleCallbacks{.on_escape = [&] { ++escapes; }});
  REQUIRE(made.has_value());
  auto& backend = **made;
  REQUIRE_FALSE(backend.attach_ring(guest.page()).has_value());
  backend.start();
  CHECK((settings(pty.slave.get()).c_lflag & ICANON) == 0);
  backend.guest_notified();
  write_all(pty.master.get(), "ab\x1d" "cd");  // no newline: raw mode delivers at once
  CHECK(eventually([&] { return escapes.load() == 1; }));
  std::string got;
  eventually([&] {
    got += guest.read_input();
    return got.size() >= 2;
  });
  CHECK(got == "ab");  // bytes after the escape never reach the guest
  backend.stop();
  CHECK(same(settings(pty.slave.get()), before));
}

TEST_CASE("console backend: stop() from the on_escape callback itself", "[console][threads]") {
  Pty pty;
  Pipe output;
  const termios before = settings(pty.slave.get());
  std::unique_ptr<ConsoleBackend> backend;
  std::atomic<bool> escaped{false};
  ConsoleConfig config{.input_fd = pty.slave.get(), .output_fd = output.write_end.get()};
  auto made = ConsoleBackend::create(config, ConsoleCallbacks{.on_escape = [&] {
                                       backend->stop();  // the lead maps escape to stopping
                                       escaped = true;
                                     }});
  REQUIRE(made.has_value());
  backend = std::move(*made);
  backend->start();
  write_all(pty.master.get(), "\x1d");
  CHECK(eventually([&] { return escaped.load(); }));
  CHECK(eventually([&] { return same(settings(pty.slave.get()), before); }));
  backend.reset();  // joins the thread that stopped itself
}

TEST_CASE("console backend: a pipe on stdin gets no raw mode and no escape", "[console][threads]") {
  Pipe input;
  Pipe output;
  FakeConsoleGuest guest;
  std::atomic<int> escapes{0};
  ConsoleConfig config{.input_fd = input.read_end.get(), .output_fd = output.write_end.get()};
  auto made = ConsoleBackend::create(config, ConsoleCallbacks{.on_escape = [&] { ++escapes; }});
  REQUIRE(made.has_value());
  REQUIRE_FALSE((*made)->attach_ring(guest.page()).has_value());
  (*made)->start();
  (*made)->guest_notified();
  write_all(input.write_end.get(), "x\x1dy");
  std::string got;
  eventually([&] {
    got += guest.read_input();
    return got.size() >= 3;
  });
  CHECK(got == "x\x1dy");
  CHECK(escapes.load() == 0);
}

namespace {

// Runs `body` in a child process (no Catch2 there) and returns its wait status.
template <class Body>
int in_child(Body body) {
  std::fflush(nullptr);  // the child's exit() must not print the parent's buffered output again
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // the crash below must not write a core file
    body();
    ::_exit(99);  // body is expected to end the process itself
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("terminal guard: exit() without the destructor still restores (atexit)", "[console]") {
  Pty pty;
  const termios before = settings(pty.slave.get());
  const int status = in_child([&] {
    auto guard = TerminalGuard::make_raw(pty.slave.get());
    if (!guard || !guard->active()) ::_exit(2);
    std::exit(0);  // the guard's destructor never runs
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(same(settings(pty.slave.get()), before));
}

TEST_CASE("terminal guard: a fatal signal restores before the process dies", "[console]") {
  Pty pty;
  const termios before = settings(pty.slave.get());
  const int status = in_child([&] {
    kxen::console::restore_terminals_on_fatal_signals();
    auto guard = TerminalGuard::make_raw(pty.slave.get());
    if (!guard || !guard->active()) ::_exit(2);
    std::abort();
  });
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(same(settings(pty.slave.get()), before));
}
