// Pipes, ptys and bounded waiting for the console backend tests.
#pragma once

#include "kvm/fd.hpp"

#include <poll.h>
#include <pty.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>

namespace kxen::console::test {

struct Pipe {
  Fd read_end;
  Fd write_end;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
};

struct Pty {
  Fd master;
  Fd slave;
  Pty() {
    int m = -1;
    int s = -1;
    REQUIRE(::openpty(&m, &s, nullptr, nullptr, nullptr) == 0);
    master.reset(m);
    slave.reset(s);
  }
};

// Polls `done` until it holds or two seconds pass; tests never hang on a broken backend.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(2)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Reads from `fd` until `want` bytes arrived or the time limit passed.
inline std::string read_bytes(int fd, std::size_t want, std::chrono::milliseconds limit = std::chrono::seconds(2)) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
    if (::poll(&pfd, 1, 20) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

inline void write_all(int fd, std::string_view bytes) {
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
}

}  // namespace kxen::console::test
