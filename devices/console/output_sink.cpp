#include "console/output_sink.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

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

// A non-blocking descriptor of the pipe or terminal `fd` refers to, or an invalid Fd for other
// kinds (a regular file never stalls; reopening it would reset its offset) or when it cannot be had.
Fd reopen_nonblocking(int fd) {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) return Fd();
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_NONBLOCK) != 0 || (flags & O_ACCMODE) == O_RDONLY) return Fd();
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  return Fd(::open(self.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
}

}  // namespace

OutputSink::OutputSink(int fd, std::chrono::milliseconds stall_limit)
    : own_fd_(reopen_nonblocking(fd)), fd_(own_fd_.valid() ? own_fd_.get() : fd), stall_limit_(stall_limit) {}

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
    stalled_ = false;
    return true;
  }
  if (n < 0 && errno == EINTR) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return wait_writable_locked();
  broken_ = true;
  spdlog::info("console: output closed ({}); guest console output is discarded from now on",
               n < 0 ? std::strerror(errno) : "wrote 0 bytes");
  return false;
}

// A non-blocking output that stays full longer than stall_limit_ loses this write, not the guest;
// while it stays full, later writes are dropped without waiting again.
bool OutputSink::wait_writable_locked() {
  pollfd pfd{.fd = fd_, .events = POLLOUT, .revents = 0};
  const int rc = ::poll(&pfd, 1, stalled_ ? 0 : static_cast<int>(stall_limit_.count()));
  if (rc > 0) return true;  // writable, or an error the next write() reports
  if (rc < 0 && errno == EINTR) return true;
  if (!stalled_ && stall_log_.allow())
    spdlog::warn("console: output stalled for {} ms; dropping console output until it drains", stall_limit_.count());
  stalled_ = true;
  return false;
}

}  // namespace kxen::console
