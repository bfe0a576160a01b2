#include "console/terminal.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include <fmt/format.h>

namespace kxen::console {
namespace {

// The one deliberate piece of process-wide state: atexit and signal paths have no object to ask
// which terminals to restore. Lock-free so restore_terminals() stays async-signal-safe.
struct RestoreSlot {
  enum : int { kFree = 0, kBusy = 1, kArmed = 2 };
  std::atomic<int> state{kFree};
  int fd = -1;
  termios saved{};
};
constexpr std::size_t kSlots = 4;

std::array<RestoreSlot, kSlots>& restore_table() {
  static std::array<RestoreSlot, kSlots> table;
  return table;
}

int arm_slot(int fd, const termios& saved) {
  auto& table = restore_table();
  for (std::size_t i = 0; i < kSlots; ++i) {
    int expected = RestoreSlot::kFree;
    if (!table[i].state.compare_exchange_strong(expected, RestoreSlot::kBusy)) continue;
    table[i].fd = fd;
    table[i].saved = saved;
    table[i].state.store(RestoreSlot::kArmed, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

void disarm_slot(int slot) {
  if (slot < 0) return;
  auto& entry = restore_table()[static_cast<std::size_t>(slot)];
  int expected = RestoreSlot::kArmed;
  if (entry.state.compare_exchange_strong(expected, RestoreSlot::kBusy)) {
    entry.state.store(RestoreSlot::kFree, std::memory_order_release);
  }
}

extern "C" void restore_terminals_at_exit() { restore_terminals(); }

// SA_RESETHAND put the default action back; re-raising delivers it once this handler returns.
extern "C" void restore_terminals_then_die(int sig) {
  restore_terminals();
  ::raise(sig);
}

termios raw_settings(const termios& saved) {
  termios raw = saved;
  raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  raw.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB);
  raw.c_cflag |= CS8;
  raw.c_cc[VMIN] = 1;  // a read returns as soon as one key arrives
  raw.c_cc[VTIME] = 0;
  return raw;
}

}  // namespace

void restore_terminals() noexcept {
  for (auto& entry : restore_table()) {
    if (entry.state.load(std::memory_order_acquire) != RestoreSlot::kArmed) continue;
    ::tcsetattr(entry.fd, TCSANOW, &entry.saved);  // TCSANOW: never wait on a stalled terminal
  }
}

void restore_terminals_on_fatal_signals() {
  struct sigaction action {};
  action.sa_handler = restore_terminals_then_die;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::sigaction(sig, &action, nullptr);
}

std::expected<TerminalGuard, std::string> TerminalGuard::make_raw(int fd) {
  if (fd < 0 || ::isatty(fd) != 1) return TerminalGuard();
  TerminalGuard guard;
  if (::tcgetattr(fd, &guard.saved_) != 0) {
    return std::unexpected(fmt::format("console: cannot read terminal settings: {}", std::strerror(errno)));
  }
  static std::once_flag at_exit_once;
  std::call_once(at_exit_once, [] { std::atexit(restore_terminals_at_exit); });
  guard.slot_ = arm_slot(fd, guard.saved_);  // armed before the change so no window is unguarded
  guard.fd_ = fd;
  const termios raw = raw_settings(guard.saved_);
  if (::tcsetattr(fd, TCSANOW, &raw) != 0) {
    const int err = errno;
    guard.restore();
    return std::unexpected(fmt::format("console: cannot switch the terminal to raw mode: {}", std::strerror(err)));
  }
  return guard;
}

void TerminalGuard::restore() noexcept {
  if (fd_ < 0) return;
  ::tcsetattr(fd_, TCSANOW, &saved_);
  disarm_slot(slot_);
  fd_ = -1;
  slot_ = -1;
}

TerminalGuard::TerminalGuard(TerminalGuard&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), slot_(std::exchange(other.slot_, -1)), saved_(other.saved_) {}

TerminalGuard& TerminalGuard::operator=(TerminalGuard&& other) noexcept {
  if (this != &other) {
    restore();
    fd_ = std::exchange(other.fd_, -1);
    slot_ = std::exchange(other.slot_, -1);
    saved_ = other.saved_;
  }
  return *this;
}

}  // namespace kxen::console
