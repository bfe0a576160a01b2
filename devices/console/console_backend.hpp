// The PV console backend (xenconsoled's job): guest ring <-> kxen's stdin/stdout, on one I/O thread.
#pragma once

#include "console/console_ring.hpp"
#include "console/input_queue.hpp"
#include "console/output_sink.hpp"
#include "console/terminal.hpp"
#include "kvm/fd.hpp"

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>

namespace kxen::console {

struct ConsoleConfig {
  int input_fd = STDIN_FILENO;    // not owned; -1 for no input
  int output_fd = STDOUT_FILENO;  // not owned
  bool raw_terminal = true;       // raw mode while running, only if input_fd is a TTY
  char escape = '\x1d';           // Ctrl-] like `xl console`; only honoured on a TTY
  std::size_t input_queue_bytes = InputQueue::kDefaultCapacity;
};

struct ConsoleCallbacks {
  std::function<void()> notify_guest;  // raise the console event channel (called on the I/O thread)
  std::function<void()> on_escape;     // the user pressed the escape key; must not block
  // The I/O thread cannot go on (e.g. std::bad_alloc): called once on it, then the thread ends
  // (instead of std::terminate); the VM should stop.
  std::function<void(std::string_view what)> on_failure;
};

// Threads: guest_notified(), write_host_output(), read_early_input() and attach_ring() may be
// called from any thread (vCPUs); the callbacks run on the backend's I/O thread. start(), stop()
// and destruction belong to one controlling thread (plus stop() from a callback).
// Lock order: mutex_ is a leaf except that OutputSink's mutex may be taken after releasing it.
//
// Input routing: host input waits in a bounded queue. Until the guest first notifies the console
// event channel after attach_ring() (its hvc driver is live), the queue is what
// read_early_input() (console_io CONSOLEIO_read) hands out; from then on it feeds the ring.
class ConsoleBackend final {
 public:
  static std::expected<std::unique_ptr<ConsoleBackend>, std::string> create(ConsoleConfig config,
                                                                            ConsoleCallbacks callbacks);
  ~ConsoleBackend();
  ConsoleBackend(const ConsoleBackend&) = delete;
  ConsoleBackend& operator=(const ConsoleBackend&) = delete;

  // Uses `page` (the guest's console page, via GuestMemory::span) as the ring; error text if
  // unusable. `kick_fd`: the event channel's eventfd, polled instead of guest_notified()'s own
  // (set before start(); -1 keeps guest_notified()).
  std::optional<std::string> attach_ring(std::span<std::byte> page, int kick_fd = -1);
  // Enters raw mode (if configured and a TTY) and starts the I/O thread. Idempotent.
  void start();
  // Stops the I/O thread and restores the terminal. Idempotent. Called on the I/O thread itself
  // (from a callback) it only requests the stop; the destructor or a later stop() joins.
  void stop();

  // The guest notified the console event channel. Cheap, never blocks.
  void guest_notified();
  // The eventfd guest_notified() writes; the lead may hand it to KVM (KVM_XEN_ATTR_TYPE_EVTCHN).
  int notify_fd() const { return notify_fd_.get(); }

  // console_io writes, port 0xE9: filtered as Xen filters a domU's debug output (no escape
  // sequences reach the host terminal), serialised with the ring's output, never torn. Never
  // blocks on the host's output: the bytes wait (up to kHostOutputLimit, then dropped) for the
  // I/O thread to write them.
  void write_host_output(std::string_view bytes);
  static constexpr std::size_t kHostOutputLimit = 64 * 1024;
  // console_io reads: queued host input while the ring is not connected yet, else nothing.
  std::size_t read_early_input(std::span<char> out);

 private:
  ConsoleBackend(ConsoleConfig config, ConsoleCallbacks callbacks, Fd wake_fd, Fd notify_fd);
  void run();
  void serve();
  void read_input();
  void queue_input(std::span<const char> bytes);
  void service_ring();
  bool drain_output();
  void drain_host_output();
  bool flush_input_locked();

  ConsoleConfig config_;
  ConsoleCallbacks callbacks_;
  Fd wake_fd_;                           // stop requests and attach_ring() wake the thread here
  std::atomic<bool> stop_requested_{false};
  Fd notify_fd_;
  std::atomic<int> kick_fd_{-1};  // not owned: the bound event channel's eventfd
  OutputSink sink_;
  TerminalGuard terminal_;
  bool escape_active_ = false;  // I/O thread only (set before it starts)
  bool input_open_ = true;      // I/O thread only

  std::mutex mutex_;  // guards ring_, queue_, connected_, host_output_
  std::optional<ConsoleRing> ring_;
  InputQueue queue_;
  bool connected_ = false;
  std::string host_output_;  // written by vCPUs, waiting for the I/O thread

  std::mutex thread_mutex_;  // a leaf: guards thread_ between start() and stop() from any thread
  std::thread thread_;
};

}  // namespace kxen::console
