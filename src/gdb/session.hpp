// One gdb connection's protocol state: acks, the selected threads, physical-memory mode, the
// breakpoints, and whether the guest runs. Turns packets into replies over a Target; no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gdb/breakpoints.hpp"
#include "gdb/command.hpp"
#include "gdb/packet.hpp"
#include "gdb/target.hpp"

namespace kxen::gdb {

class Session final {
 public:
  // Attaches to the target and stops it: gdb's first question ('?') expects a stopped target.
  explicit Session(Target& target);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One decoded event in; the bytes to send back (acks and framed replies), maybe empty.
  std::string on_event(const PacketEvent& event);
  // While the guest runs: waits up to `wait` for a stop or the VM's end; the framed reply or "".
  // A reboot is not an end: the next boot's rebind() or the last boot's final_stop() follows.
  std::string poll_stop(std::chrono::milliseconds wait);
  // The last boot is over: W00 or X06 for a client still waiting in `continue`, else "".
  std::string final_stop();
  bool running() const { return running_; }
  // Detached, killed, or the guest ended: the connection closes after the last reply.
  bool finished() const { return finished_; }
  // The client went away without D: its breakpoints go and the guest runs on.
  void disconnect();
  // The guest rebooted into a new VM (`target`, its vCPUs parked): the breakpoints and
  // watchpoints carry over, and a guest that was running runs on under them. Returns what to
  // send: a stop reply when that guest could not be resumed, else nothing.
  std::string rebind(Target& target);

 private:
  std::optional<std::string> handle(const Command& command);
  std::string reply_packet(std::string payload);
  std::optional<std::uint32_t> vcpu_of(std::int64_t thread, std::uint32_t fallback) const;
  std::string stop_reply(std::uint32_t vcpu, int signal, const std::string& reason);
  std::string stopped_by(const DebugExit& exit);
  std::string interrupt();
  std::optional<std::string> resume(std::vector<RunAction> actions, std::optional<std::uint64_t> addr,
                                    std::uint32_t addr_vcpu);
  std::optional<std::string> vcont(const VCont& v);
  std::string read_memory(const ReadMemory& m);
  std::string write_memory(const WriteMemory& m);
  std::string registers(std::optional<const WriteRegisters*> write);
  std::string one_register(std::uint32_t reg, const std::vector<std::byte>* value);
  std::string breakpoint(const Breakpoint& b);
  std::string monitor(const std::string& text);
  std::string thread_list(bool first);
  void halt();

  Target* target_;  // the current boot's VM
  Breakpoints breakpoints_;
  bool ack_mode_ = true;
  bool running_ = false;
  bool finished_ = false;
  bool physical_ = false;
  std::uint32_t g_vcpu_ = 0;  // Hg: registers and memory
  std::uint32_t c_vcpu_ = 0;  // Hc: c and s without vCont
  std::uint32_t last_stop_vcpu_ = 0;
  std::string last_sent_;     // for a '-' (resend)
};

}  // namespace kxen::gdb
