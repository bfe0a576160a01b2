#include "console/output_sink.hpp"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include <spdlog/spdlog.h>

namespace kxen::console {
namespace {

// write() that never raises SIGPIPE: a reader going away (`kxen ... | head`) is an error value.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t len) {
  sigset_t pipe_set;
  sigset_t old_mask;
  sigset_t pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  const ssize_t n = ::write(fd, data, len);
  const int err = errno;
  if (n < 0 && err == EPIPE && !was_pending) {
    const timespec no_wait{};
    sigtimedwait(&pipe_set, nullptr, &no_wait);  // swallow the SIGPIPE our write just queued
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = err;
  return n;
}

}  // namespace

OutputSink::OutputSink(int fd, std::chrono::milliseconds stall_limit) : fd_(fd), stall_limit_(stall_limit) {}

bool OutputSink::broken() const {
  std::lock_guard lock(mutex_);
  return broken_;
}

std::size_t OutputSink::write(std::string_view bytes) {
  std::lock_guard lock(mutex_);
  std::size_t done = 0;
  while (!broken_ && done < bytes.size()) {
    if (!write_some_locked(bytes, done)) break;
  }
  return done;
}

// One write step; false when the rest of this write must be dropped.
bool OutputSink::write_some_locked(std::string_view bytes, std::size_t& done) {
  const ssize_t n = write_without_sigpipe(fd_, bytes.data() + done, bytes.size() - done);
  if (n > 0) {
    done += static_cast<std::size_t>(n);
    return true;
  }
  if (n < 0 && errno == EINTR) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return wait_writable_locked();
  broken_ = true;
  spdlog::info("console: output closed ({}); guest console output is discarded from now on",
               n < 0 ? std::strerror(errno) : "wrote 0 bytes");
  return false;
}

// A non-blocking output that stays full longer than stall_limit_ loses this write, not the guest.
bool OutputSink::wait_writable_locked() {
  pollfd pfd{.fd = fd_, .events = POLLOUT, .revents = 0};
  const int rc = ::poll(&pfd, 1, static_cast<int>(stall_limit_.count()));
  if (rc > 0) return true;  // writable, or an error the next write() reports
  if (rc < 0 && errno == EINTR) return true;
  if (stall_log_.allow()) spdlog::warn("console: output stalled for {} ms; dropping console output", stall_limit_.count());
  return false;
}

}  // namespace kxen::console
