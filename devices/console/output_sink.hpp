// One serialised writer for everything the guest prints (PV ring, console_io, port 0xE9).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string_view>

#include "kvm/fd.hpp"
#include "kxen/log.hpp"

namespace kxen::console {

// Thread-safe: each write() lands whole (no torn writes) relative to other write() calls.
// A broken output (closed pipe, EIO) is logged once and then output is discarded: the guest
// must keep running when nobody reads its console.
//
// Stalls: a pipe or terminal is written through a non-blocking descriptor of its own (reopened
// through /proc/self/fd, so the shared one keeps its flags). A full output is waited for at most
// `stall_limit`; after that, writes that find it full are dropped at once until one gets through.
class OutputSink final {
 public:
  // Does not own `fd`.
  explicit OutputSink(int fd, std::chrono::milliseconds stall_limit = std::chrono::seconds(2));

  // Writes all of `bytes` unless the fd is broken or stalls; returns bytes actually written.
  std::size_t write(std::string_view bytes);
  bool broken() const;

 private:
  bool write_some_locked(std::string_view bytes, std::size_t& done);
  bool wait_writable_locked();

  Fd own_fd_;  // the non-blocking reopen of a pipe or terminal, when there is one
  int fd_;
  std::chrono::milliseconds stall_limit_;
  mutable std::mutex mutex_;
  bool broken_ = false;
  bool stalled_ = false;  // the last wait ran out: do not wait again until a write succeeds
  RateLimit stall_log_{3};
};

}  // namespace kxen::console
