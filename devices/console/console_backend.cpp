#include "console/console_backend.hpp"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xen/hypercall/console_filter.hpp"

namespace kxen::console {
namespace {

// Output passes per wake-up: a guest that refills `out` forever cannot starve stop or input.
constexpr int kMaxDrainPasses = 8;
constexpr std::size_t kReadChunk = 4096;

void drain_eventfd(int fd) {
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = ::read(fd, &count, sizeof(count));  // non-blocking: EAGAIN is fine
}

void signal_eventfd(int fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof(one));  // saturated counter: already signalled
}

std::expected<Fd, std::string> make_eventfd() {
  Fd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd.valid()) return std::unexpected(fmt::format("console: eventfd: {}", std::strerror(errno)));
  return fd;
}

// The backend whose I/O thread this is, if any.
thread_local const ConsoleBackend* serving_backend = nullptr;

}  // namespace

std::expected<std::unique_ptr<ConsoleBackend>, std::string> ConsoleBackend::create(ConsoleConfig config,
                                                                                  ConsoleCallbacks callbacks) {
  auto wake_fd = make_eventfd();
  if (!wake_fd) return std::unexpected(wake_fd.error());
  auto notify_fd = make_eventfd();
  if (!notify_fd) return std::unexpected(notify_fd.error());
  return std::unique_ptr<ConsoleBackend>(
      new ConsoleBackend(config, std::move(callbacks), std::move(*wake_fd), std::move(*notify_fd)));
}

ConsoleBackend::ConsoleBackend(ConsoleConfig config, ConsoleCallbacks callbacks, Fd wake_fd, Fd notify_fd)
    : config_(config),
      callbacks_(std::move(callbacks)),
      wake_fd_(std::move(wake_fd)),
      notify_fd_(std::move(notify_fd)),
      sink_(config.output_fd),
      input_open_(config.input_fd >= 0),
      queue_(config.input_queue_bytes) {}

ConsoleBackend::~ConsoleBackend() { stop(); }

std::optional<std::string> ConsoleBackend::attach_ring(std::span<std::byte> page, int kick_fd) {
  auto ring = ConsoleRing::attach(page);
  if (!ring) return ring.error();
  if (kick_fd >= 0) kick_fd_ = kick_fd;
  {
    std::lock_guard lock(mutex_);
    ring_ = *ring;
    connected_ = false;  // a new page: wait for the guest's driver to announce itself
  }
  signal_eventfd(wake_fd_.get());  // drain output the guest wrote before anyone looked
  return std::nullopt;
}

void ConsoleBackend::start() {
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable()) return;
  stop_requested_.store(false);
  const bool tty = config_.input_fd >= 0 && ::isatty(config_.input_fd) == 1;
  escape_active_ = tty;
  if (tty && config_.raw_terminal) {
    auto guard = TerminalGuard::make_raw(config_.input_fd);
    if (guard) terminal_ = std::move(*guard);
    else spdlog::warn("{}; keeping the terminal as it is", guard.error());
  }
  if (tty) spdlog::info("console: attached to the terminal; Ctrl-] leaves");
  thread_ = std::thread([this] { run(); });
}

void ConsoleBackend::stop() {
  if (serving_backend == this) {  // on_escape on the I/O thread: run() sees the request and exits
    stop_requested_.store(true);
    signal_eventfd(wake_fd_.get());
    return;
  }
  std::thread serving;
  {
    std::lock_guard lock(thread_mutex_);
    serving = std::move(thread_);
  }
  if (!serving.joinable()) return;
  stop_requested_.store(true);
  signal_eventfd(wake_fd_.get());
  serving.join();
  terminal_.restore();
}

void ConsoleBackend::write_host_output(std::string_view bytes) {
  std::string text;
  append_console_text(text, bytes);
  if (text.empty()) return;
  std::size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    const std::size_t room = kHostOutputLimit - std::min(kHostOutputLimit, host_output_.size());
    dropped = text.size() - std::min(room, text.size());
    host_output_.append(text, 0, text.size() - dropped);
  }
  if (dropped > 0) KXEN_GUEST_WARN("console: host output is not keeping up; dropped {} bytes of debug output", dropped);
  signal_eventfd(wake_fd_.get());
}

// The vCPUs' output, written here so that a stalled host output holds up this thread only.
void ConsoleBackend::drain_host_output() {
  std::string pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(host_output_);
  }
  if (!pending.empty()) sink_.write(pending);
}

void ConsoleBackend::guest_notified() { signal_eventfd(notify_fd_.get()); }

std::size_t ConsoleBackend::read_early_input(std::span<char> out) {
  std::lock_guard lock(mutex_);
  if (connected_) return 0;  // the ring owns the input now
  const std::size_t n = queue_.peek(out);
  queue_.pop(n);
  return n;
}

void ConsoleBackend::run() {
  serving_backend = this;
  try {
    serve();
  } catch (const std::exception& e) {
    // Out of memory on this thread (a callback, the input queue) stops the VM, not the process.
    const std::string_view what = dynamic_cast<const std::bad_alloc*>(&e) ? "out of memory" : e.what();
    if (callbacks_.on_failure) callbacks_.on_failure(what);
  }
  terminal_.restore();  // also covers a stop() requested from this thread
}

void ConsoleBackend::serve() {
  for (;;) {
    const int kick_fd = kick_fd_.load() >= 0 ? kick_fd_.load() : notify_fd_.get();
    std::array<pollfd, 3> fds{{{wake_fd_.get(), POLLIN, 0},
                               {kick_fd, POLLIN, 0},
                               {input_open_ ? config_.input_fd : -1, POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("console: poll failed: {}; console stops", std::strerror(errno));
      break;
    }
    if (fds[0].revents != 0) drain_eventfd(wake_fd_.get());
    if (stop_requested_.load()) break;
    if (fds[1].revents != 0) {
      drain_eventfd(kick_fd);
      std::lock_guard lock(mutex_);
      connected_ = ring_.has_value();
    }
    if (fds[2].revents != 0) read_input();
    drain_host_output();
    service_ring();
  }
  drain_host_output();  // the guest's last words before a shutdown still reach the host
  drain_output();
}

void ConsoleBackend::read_input() {
  std::array<char, kReadChunk> buf;
  const ssize_t n = ::read(config_.input_fd, buf.data(), buf.size());
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {  // EOF (pipe closed, /dev/null) or a dead terminal: stop reading, keep the guest
    spdlog::info("console: input {}; the guest keeps running without it",
                 n == 0 ? "closed" : std::strerror(errno));
    input_open_ = false;
    return;
  }
  std::span<const char> bytes(buf.data(), static_cast<std::size_t>(n));
  const auto escape = escape_active_ ? std::ranges::find(bytes, config_.escape) : bytes.end();
  queue_input(std::span<const char>(bytes.begin(), escape));
  if (escape == bytes.end()) return;
  spdlog::info("console: escape key pressed; detaching");
  input_open_ = false;  // like `xl console`: nothing after the escape reaches the guest
  if (callbacks_.on_escape) callbacks_.on_escape();
}

void ConsoleBackend::queue_input(std::span<const char> bytes) {
  if (bytes.empty()) return;
  std::lock_guard lock(mutex_);
  const std::size_t dropped = queue_.push(bytes);
  if (dropped > 0) {
    KXEN_GUEST_WARN("console: guest is not reading its console; dropped {} oldest input bytes", dropped);
  }
}

void ConsoleBackend::service_ring() {
  bool notify = drain_output();
  {
    std::lock_guard lock(mutex_);
    notify = flush_input_locked() || notify;
  }
  if (notify && callbacks_.notify_guest) callbacks_.notify_guest();
}

// Copies the guest's output to the sink outside the lock; true if out_cons moved.
bool ConsoleBackend::drain_output() {
  bool notify = false;
  std::array<char, ConsoleRing::kOutSize> buf;
  for (int pass = 0; pass < kMaxDrainPasses; ++pass) {
    OutputResult result;
    {
      std::lock_guard lock(mutex_);
      if (!ring_) break;
      result = ring_->read_output(buf);
    }
    notify = notify || result.notify;
    if (result.bytes == 0) break;
    sink_.write(std::string_view(buf.data(), result.bytes));
  }
  return notify;
}

bool ConsoleBackend::flush_input_locked() {
  if (!ring_ || !connected_ || queue_.empty()) return false;
  std::array<char, ConsoleRing::kInSize> buf;
  const std::size_t n = queue_.peek(buf);
  const InputResult result = ring_->write_input(std::span<const char>(buf.data(), n));
  queue_.pop(result.bytes);
  return result.notify;
}

}  // namespace kxen::console
