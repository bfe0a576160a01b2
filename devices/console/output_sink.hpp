// One serialised writer for everything the guest prints (PV ring, console_io, port 0xE9).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string_view>

#include "kxen/log.hpp"

namespace kxen::console {

// Thread-safe: each write() lands whole (no torn writes) relative to other write() calls.
// A broken output (closed pipe, EIO) is logged once and then output is discarded: the guest
// must keep running when nobody reads its console.
class OutputSink final {
 public:
  // Does not own `fd`. `stall_limit` bounds how long one write waits for a full non-blocking fd.
  explicit OutputSink(int fd, std::chrono::milliseconds stall_limit = std::chrono::seconds(2));

  // Writes all of `bytes` unless the fd is broken or stalls; returns bytes actually written.
  std::size_t write(std::string_view bytes);
  bool broken() const;

 private:
  bool write_some_locked(std::string_view bytes, std::size_t& done);
  bool wait_writable_locked();

  int fd_;
  std::chrono::milliseconds stall_limit_;
  mutable std::mutex mutex_;
  bool broken_ = false;
  RateLimit stall_log_{3};
};

}  // namespace kxen::console
