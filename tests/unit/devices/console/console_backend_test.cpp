// ConsoleBackend end to end: a fake guest page, pipes for stdin/stdout, a counting notify. [console]
#include "console/console_backend.hpp"
#include "console_test_util.hpp"
#include "fake_console_guest.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <new>
#include <string>

using kxen::console::ConsoleBackend;
using kxen::console::ConsoleCallbacks;
using kxen::console::ConsoleConfig;
using namespace kxen::console::test;

namespace {

// A backend wired to pipes; `notifies` counts notify_guest calls.
struct Harness {
  Pipe input;
  Pipe output;
  FakeConsoleGuest guest;
  std::atomic<int> notifies{0};
  std::unique_ptr<ConsoleBackend> backend;

  explicit Harness(std::size_t queue_bytes = 64 * 1024) {
    ConsoleConfig config;
    config.input_fd = input.read_end.get();
    config.output_fd = output.write_end.get();
    config.input_queue_bytes = queue_bytes;
    auto made = ConsoleBackend::create(config, ConsoleCallbacks{.notify_guest = [this] { ++notifies; }});
    REQUIRE(made.has_value());
    backend = std::move(*made);
    REQUIRE_FALSE(backend->attach_ring(guest.page()).has_value());
    backend->start();
  }
  std::string guest_input_eventually(std::size_t want) {
    std::string got;
    eventually([&] {
      got += guest.read_input();
      return got.size() >= want;
    });
    return got;
  }
};

}  // namespace

TEST_CASE("console backend: guest output reaches the output fd and the guest is notified", "[console][threads]") {
  Harness h;
  h.guest.write_output("Linux version 6.1\r\n");
  h.backend->guest_notified();
  CHECK(read_bytes(h.output.read_end.get(), 19) == "Linux version 6.1\r\n");
  CHECK(eventually([&] { return h.notifies.load() > 0; }));
}

TEST_CASE("console backend: output written before attach is drained at attach", "[console][threads]") {
  Pipe output;
  FakeConsoleGuest guest;
  guest.write_output("early");
  ConsoleConfig config{.input_fd = -1, .output_fd = output.write_end.get()};
  auto backend = ConsoleBackend::create(config, {});
  REQUIRE(backend.has_value());
  (*backend)->start();
  REQUIRE_FALSE((*backend)->attach_ring(guest.page()).has_value());
  CHECK(read_bytes(output.read_end.get(), 5) == "early");
}

TEST_CASE("console backend: host output is serialised on the same fd", "[console][threads]") {
  Harness h;
  h.backend->write_host_output("from console_io\n");
  CHECK(read_bytes(h.output.read_end.get(), 16) == "from console_io\n");
}

TEST_CASE("console backend: host output never waits for an output nobody reads", "[console][threads]") {
  Harness h;
  std::string sent;
  for (int i = 0; sent.size() < 4 * ConsoleBackend::kHostOutputLimit; ++i) sent += std::to_string(i) + ' ';
  // A vCPU's console_io write: the pipe holds 64 KiB; before the I/O thread took them over, the
  // write that found it full blocked the vCPU until someone read.
  auto writes = std::async(std::launch::async, [&] {
    for (std::size_t at = 0; at < sent.size(); at += 1000) h.backend->write_host_output(std::string_view(sent).substr(at, 1000));
  });
  // A hang detector, not a timing: 256 short appends take microseconds; a blocked one never returns.
  const bool returned = writes.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  while (writes.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready)
    read_bytes(h.output.read_end.get(), 1 << 20, std::chrono::milliseconds(10));  // unblock a failing build
  CHECK(returned);
  if (returned) CHECK(read_bytes(h.output.read_end.get(), 4096) == sent.substr(0, 4096));  // in order, from the start
}

TEST_CASE("console backend: debug output (port 0xE9, console_io) cannot drive the host terminal", "[console][threads]") {
  Harness h;
  // Port 0xE9 arrives a byte at a time; an escape sequence loses its ESC, as console_io's does.
  for (const char c : std::string_view("\x1b[2J\x07ok\r\n")) h.backend->write_host_output(std::string_view(&c, 1));
  h.backend->write_host_output("\x1b]0;title\x07" "done\n");
  CHECK(read_bytes(h.output.read_end.get(), 19) == "[2Jok\n]0;titledone\n");
}

TEST_CASE("console backend: input waits for the guest driver, then feeds the ring", "[console][threads]") {
  Harness h;
  write_all(h.input.write_end.get(), "boot");
  std::string early;
  CHECK(eventually([&] {
    char buf[16];
    early.append(buf, h.backend->read_early_input(buf));
    return early == "boot";
  }));
  CHECK(h.guest.read_input().empty());  // not connected: nothing went into the ring
  h.backend->guest_notified();          // hvc_xen is live
  write_all(h.input.write_end.get(), "root\r");
  CHECK(h.guest_input_eventually(5) == "root\r");
  CHECK(eventually([&] { return h.notifies.load() > 0; }));
  char buf[8];
  CHECK(h.backend->read_early_input(buf) == 0);
}

TEST_CASE("console backend: input beyond the ring waits for the guest to consume", "[console][threads]") {
  Harness h;
  h.backend->guest_notified();
  std::string big;
  for (int i = 0; i < 3000; ++i) big.push_back(static_cast<char>('a' + i % 26));
  write_all(h.input.write_end.get(), big);
  std::string got;
  CHECK(eventually([&] {
    got += h.guest.read_input();
    h.backend->guest_notified();  // hvc_xen notifies after consuming
    return got.size() >= big.size();
  }));
  CHECK(got == big);
}

TEST_CASE("console backend: the input queue is bounded and drops the oldest bytes", "[console][threads]") {
  Harness h(16);
  write_all(h.input.write_end.get(), "0123456789");
  write_all(h.input.write_end.get(), "abcdefghij");
  std::string early;
  CHECK(eventually([&] {
    char buf[64];
    early.append(buf, h.backend->read_early_input(buf));
    return early.size() >= 16;
  }));
  CHECK(early == "456789abcdefghij");
}

TEST_CASE("console backend: EOF on input and a closed output do not stop the console", "[console][threads]") {
  Harness h;
  h.input.write_end.reset();  // stdin at EOF
  h.output.read_end.reset();  // nobody reads stdout: writes fail with EPIPE, no SIGPIPE death
  h.guest.write_output("lost");
  h.backend->guest_notified();
  h.backend->write_host_output("also lost");
  CHECK(eventually([&] { return h.notifies.load() > 0; }));  // output still consumed
  h.guest.write_output("more");
  const int before = h.notifies.load();
  h.backend->guest_notified();
  CHECK(eventually([&] { return h.notifies.load() > before; }));
  h.backend->stop();
}

TEST_CASE("console backend: stop is idempotent and safe before start", "[console][threads]") {
  auto backend = ConsoleBackend::create(ConsoleConfig{.input_fd = -1, .output_fd = -1}, {});
  REQUIRE(backend.has_value());
  (*backend)->stop();
  (*backend)->start();
  (*backend)->stop();
  (*backend)->stop();
  CHECK((*backend)->notify_fd() >= 0);
}

TEST_CASE("console backend: an allocation failure on the I/O thread is reported once, not std::terminate", "[console][threads]") {
  Pipe output;
  FakeConsoleGuest guest;
  std::atomic<int> failures{0};
  std::string what;
  ConsoleConfig config{.input_fd = -1, .output_fd = output.write_end.get()};
  ConsoleCallbacks callbacks;
  callbacks.notify_guest = [] { throw std::bad_alloc(); };
  callbacks.on_failure = [&](std::string_view w) {
    what = w;
    ++failures;
  };
  auto backend = ConsoleBackend::create(config, std::move(callbacks));
  REQUIRE(backend.has_value());
  REQUIRE_FALSE((*backend)->attach_ring(guest.page()).has_value());
  guest.write_output("x");
  (*backend)->start();
  (*backend)->guest_notified();  // draining the output notifies the guest, which throws
  CHECK(eventually([&] { return failures.load() == 1; }));
  (*backend)->stop();
  CHECK(failures.load() == 1);
  CHECK(what == "out of memory");
}
