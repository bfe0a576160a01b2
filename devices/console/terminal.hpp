// Raw mode for the console's input TTY, undone on every exit path (RAII, atexit, signals).
#pragma once

#include <termios.h>

#include <expected>
#include <string>

namespace kxen::console {

// While alive, the TTY behind `fd` delivers every key at once to kxen (no echo, no line editing,
// no Ctrl-C/Ctrl-Z signals: those keys belong to the guest, Ctrl-] leaves). Output processing
// is kept so kxen's own "\n"-terminated log lines stay readable next to the guest's "\r\n".
class TerminalGuard final {
 public:
  TerminalGuard() = default;  // inactive
  ~TerminalGuard() { restore(); }
  TerminalGuard(TerminalGuard&& other) noexcept;
  TerminalGuard& operator=(TerminalGuard&& other) noexcept;
  TerminalGuard(const TerminalGuard&) = delete;
  TerminalGuard& operator=(const TerminalGuard&) = delete;

  // Not a TTY: an inactive guard (success). A TTY that refuses the change: error text.
  static std::expected<TerminalGuard, std::string> make_raw(int fd);

  // Puts the saved settings back (idempotent) and forgets them.
  void restore() noexcept;
  bool active() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  int slot_ = -1;  // entry in the process-wide restore table, -1 if the table was full
  termios saved_{};
};

// Puts back every terminal a live TerminalGuard changed. Async-signal-safe: call it from a signal
// handler or the signal-waiting thread before exiting; it also runs from atexit by itself.
void restore_terminals() noexcept;

// Optional, once at start-up: SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT restore the terminals
// and then take their default action (core dump), so a crash never leaves the shell raw.
void restore_terminals_on_fatal_signals();

}  // namespace kxen::console
