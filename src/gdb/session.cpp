#include "gdb/session.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gdb/hex.hpp"
#include "gdb/registers.hpp"
#include "gdb/target_description.hpp"

namespace kxen::gdb {

namespace {
constexpr int kSigInt = 2;
constexpr int kSigTrap = 5;
constexpr const char* kFault = "E14";   // EFAULT: memory not mapped
constexpr const char* kInvalid = "E01";
// Memory bytes in one 'm' reply: hex doubles them, and the reply must fit our PacketSize.
constexpr std::uint64_t kMaxMemoryReply = (kMaxPacket - 8) / 2;

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
// clang 16 does not deduce aggregate template arguments (P1816) on its own.
template <class... F>
Overloaded(F...) -> Overloaded<F...>;
}  // namespace

Session::Session(Target& target) : target_(&target) {
  target_->attach([this](const DebugExit& exit) { return breakpoints_.claims(exit); });
  halt();
}

std::string Session::rebind(Target& target) {
  target_ = &target;
  breakpoints_.forget_planted();
  target_->attach([this](const DebugExit& exit) { return breakpoints_.claims(exit); });
  const bool was_running = running_;
  halt();
  if (finished_ || !was_running) return {};
  spdlog::info("gdb: the guest rebooted; its {} breakpoint(s) and watchpoint(s) carry over", breakpoints_.count());
  // gdb still waits in `continue`: the new boot runs on, and its stop reply is the next one.
  if (!resume(std::vector<RunAction>(target_->vcpu_count(), RunAction::resume), std::nullopt, 0)) return {};
  spdlog::warn("gdb: the rebooted guest cannot be resumed; it stays stopped");
  return reply_packet(stop_reply(0, kSigTrap, ""));
}

void Session::halt() {
  const auto busy = target_->pause_all();
  for (auto vcpu : busy) spdlog::warn("gdb: vcpu{} is busy in a blocking hypercall; it stops when that returns", vcpu);
  breakpoints_.lift(*target_);
  running_ = false;
}

std::string Session::reply_packet(std::string payload) {
  last_sent_ = frame_packet(payload);
  return last_sent_;
}

std::string Session::on_event(const PacketEvent& event) {
  using Kind = PacketEvent::Kind;
  switch (event.kind) {
    case Kind::ack: return {};
    case Kind::nack: return ack_mode_ ? last_sent_ : std::string();
    case Kind::bad_checksum:
    case Kind::overflow: return ack_mode_ ? "-" : "";  // no-ack mode: dropped
    case Kind::interrupt: return running_ ? interrupt() : std::string();
    case Kind::packet: break;
  }
  const Command command = parse_command(event.payload);
  std::string out = ack_mode_ ? "+" : "";
  if (std::holds_alternative<StartNoAck>(command)) {
    out += reply_packet("OK");
    ack_mode_ = false;  // from the packet after this reply on
    return out;
  }
  // While running only Ctrl-C means something; gdb sends nothing else in all-stop mode.
  if (running_) return out;
  if (auto reply = handle(command)) out += reply_packet(std::move(*reply));
  return out;
}

std::optional<std::uint32_t> Session::vcpu_of(std::int64_t thread, std::uint32_t fallback) const {
  if (thread == kAnyThread || thread == kAllThreads) return fallback;
  if (thread < 1 || thread > static_cast<std::int64_t>(target_->vcpu_count())) return std::nullopt;
  return static_cast<std::uint32_t>(thread - 1);
}

std::string Session::stop_reply(std::uint32_t vcpu, int signal, const std::string& reason) {
  last_stop_vcpu_ = g_vcpu_ = c_vcpu_ = vcpu;
  return fmt::format("T{:02x}thread:{:x};{}", signal, vcpu + 1, reason);
}

std::string Session::stopped_by(const DebugExit& exit) {
  const std::string reason = breakpoints_.reason(exit);  // before lift(): the table is unchanged by it
  halt();
  return stop_reply(exit.vcpu, kSigTrap, reason);
}

std::string Session::interrupt() {
  halt();
  // A breakpoint hit racing the Ctrl-C wins: it is the more useful report.
  if (auto exit = target_->wait_stop(std::chrono::milliseconds(0))) return reply_packet(stop_reply(exit->vcpu, kSigTrap, breakpoints_.reason(*exit)));
  return reply_packet(stop_reply(last_stop_vcpu_, kSigInt, ""));
}

std::string Session::poll_stop(std::chrono::milliseconds wait) {
  if (!running_) return {};
  if (auto exit = target_->wait_stop(wait)) return reply_packet(stopped_by(*exit));
  if (target_->ended() && !target_->rebooting()) return final_stop();
  return {};
}

std::string Session::final_stop() {
  if (!running_) return {};
  running_ = false;
  finished_ = true;
  // W00: exited normally; X06 (SIGABRT): the guest crashed, rebooted or was stopped.
  return reply_packet(target_->powered_off() ? "W00" : "X06");
}

void Session::disconnect() {
  if (finished_) return;
  breakpoints_.lift(*target_);
  breakpoints_.clear();
  target_->detach();
  finished_ = true;
}

std::optional<std::string> Session::resume(std::vector<RunAction> actions, std::optional<std::uint64_t> addr,
                                           std::uint32_t addr_vcpu) {
  if (addr) {
    auto state = target_->state(addr_vcpu);
    if (!state) return std::string(kInvalid);
    state->regs.rip = *addr;
    if (!target_->set_state(addr_vcpu, *state)) return std::string(kInvalid);
  }
  breakpoints_.plant(*target_, g_vcpu_);
  target_->set_debug(breakpoints_.guest_debug());
  if (auto r = target_->resume(actions); !r) {
    spdlog::warn("gdb: resume: {}", r.error());
    breakpoints_.lift(*target_);
    return std::string(kInvalid);
  }
  running_ = true;
  return std::nullopt;  // the reply is the stop reply, later
}

std::optional<std::string> Session::vcont(const VCont& v) {
  const std::uint32_t count = target_->vcpu_count();
  std::vector<RunAction> actions(count, RunAction::stay);
  std::vector<bool> decided(count, false);
  for (const auto& a : v.actions) {  // the leftmost action that names a thread applies to it
    for (std::uint32_t id = 0; id < count; ++id) {
      if (decided[id]) continue;
      if (a.thread != kAllThreads && a.thread != static_cast<std::int64_t>(id + 1)) continue;
      actions[id] = a.action == 's' ? RunAction::step : a.action == 'c' ? RunAction::resume : RunAction::stay;
      decided[id] = true;
    }
  }
  return resume(std::move(actions), std::nullopt, 0);
}

std::string Session::thread_list(bool first) {
  if (!first) return "l";
  std::string list = "m";
  for (std::uint32_t id = 0; id < target_->vcpu_count(); ++id) list += fmt::format("{}{:x}", id ? "," : "", id + 1);
  return list;
}

std::optional<std::string> Session::handle(const Command& command) {
  return std::visit(
      Overloaded{
          [&](const QuerySupported&) -> std::optional<std::string> {
            return fmt::format("PacketSize={:x};qXfer:features:read+;vContSupported+;swbreak+;hwbreak+;"
                               "QStartNoAckMode+",
                               kMaxPacket);
          },
          [&](const StartNoAck&) -> std::optional<std::string> { return "OK"; },
          [&](const QueryAttached&) -> std::optional<std::string> { return "1"; },
          [&](const QueryCurrentThread&) -> std::optional<std::string> { return fmt::format("QC{:x}", g_vcpu_ + 1); },
          [&](const QueryThreadList& q) -> std::optional<std::string> { return thread_list(q.first); },
          [&](const QueryThreadExtra& q) -> std::optional<std::string> {
            auto vcpu = vcpu_of(q.thread, g_vcpu_);
            if (!vcpu) return kInvalid;
            return encode_hex_text(target_->describe_thread(*vcpu));
          },
          [&](const QueryFeatures& q) -> std::optional<std::string> {
            return xfer_features(q.annex, q.offset, std::min<std::uint64_t>(q.length, kMaxPacket - 8));
          },
          [&](const QueryHaltReason&) -> std::optional<std::string> { return stop_reply(last_stop_vcpu_, kSigTrap, ""); },
          [&](const MonitorCommand& m) -> std::optional<std::string> { return monitor(m.text); },
          [&](const SetPhysMode& m) -> std::optional<std::string> {
            physical_ = m.on;
            return "OK";
          },
          [&](const QueryPhysMode&) -> std::optional<std::string> { return physical_ ? "1" : "0"; },
          [&](const ReadRegisters&) -> std::optional<std::string> { return registers(std::nullopt); },
          [&](const WriteRegisters& w) -> std::optional<std::string> { return registers(&w); },
          [&](const ReadRegister& r) -> std::optional<std::string> { return one_register(r.reg, nullptr); },
          [&](const WriteRegister& r) -> std::optional<std::string> { return one_register(r.reg, &r.data); },
          [&](const ReadMemory& m) -> std::optional<std::string> { return read_memory(m); },
          [&](const WriteMemory& m) -> std::optional<std::string> { return write_memory(m); },
          [&](const Breakpoint& b) -> std::optional<std::string> { return breakpoint(b); },
          [&](const Resume& r) -> std::optional<std::string> {
            std::vector<RunAction> actions(target_->vcpu_count(), r.step ? RunAction::stay : RunAction::resume);
            if (r.step) actions[c_vcpu_] = RunAction::step;
            return resume(std::move(actions), r.addr, c_vcpu_);
          },
          [&](const VContQuery&) -> std::optional<std::string> { return "vCont;c;C;s;S;t"; },
          [&](const VCont& v) -> std::optional<std::string> { return vcont(v); },
          [&](const SetThread& t) -> std::optional<std::string> {
            auto vcpu = vcpu_of(t.thread, t.op == 'g' ? g_vcpu_ : c_vcpu_);
            if (!vcpu) return kInvalid;
            (t.op == 'g' ? g_vcpu_ : c_vcpu_) = *vcpu;
            return "OK";
          },
          [&](const ThreadAlive& t) -> std::optional<std::string> {
            return vcpu_of(t.thread, g_vcpu_) ? "OK" : kInvalid;
          },
          [&](const Detach&) -> std::optional<std::string> {
            disconnect();
            return "OK";
          },
          [&](const Kill&) -> std::optional<std::string> {
            breakpoints_.lift(*target_);
            target_->kill();
            finished_ = true;
            return std::nullopt;  // k has no reply
          },
          [&](const Unknown&) -> std::optional<std::string> { return ""; },
          [&](const Malformed&) -> std::optional<std::string> { return kInvalid; },
      },
      command);
}

std::string Session::read_memory(const ReadMemory& m) {
  std::vector<std::byte> bytes(std::min(m.length, kMaxMemoryReply));
  const std::size_t n = target_->read_memory(g_vcpu_, m.addr, bytes, physical_);
  if (n == 0 && !bytes.empty()) return kFault;
  return encode_hex_bytes(std::span(bytes).first(n));
}

std::string Session::write_memory(const WriteMemory& m) {
  if (m.data.empty()) return "OK";  // gdb probes X support with an empty write
  return target_->write_memory(g_vcpu_, m.addr, m.data, physical_) ? "OK" : kFault;
}

std::string Session::registers(std::optional<const WriteRegisters*> write) {
  auto state = target_->state(g_vcpu_);
  if (!state) return kInvalid;
  if (!write) return encode_hex_bytes(read_all_registers(*state));
  if (!write_all_registers(*state, (*write)->data)) return kInvalid;
  return target_->set_state(g_vcpu_, *state) ? "OK" : kInvalid;
}

std::string Session::one_register(std::uint32_t reg, const std::vector<std::byte>* value) {
  auto state = target_->state(g_vcpu_);
  if (!state) return kInvalid;
  if (!value) {
    auto bytes = read_register(*state, reg);
    return bytes ? encode_hex_bytes(*bytes) : std::string(kInvalid);
  }
  if (!write_register(*state, reg, *value)) return kInvalid;
  return target_->set_state(g_vcpu_, *state) ? "OK" : kInvalid;
}

std::string Session::breakpoint(const Breakpoint& b) {
  const auto type = static_cast<BreakType>(b.type);
  const bool ok = b.insert ? breakpoints_.insert(type, b.addr, b.kind) : breakpoints_.remove(type, b.addr, b.kind);
  if (ok) return "OK";
  return b.insert && type != BreakType::software ? "E28" : kInvalid;  // ENOSPC: no free debug register
}

std::string Session::monitor(const std::string& text) {
  if (text == "phys on" || text == "phys off") {
    physical_ = text == "phys on";
    return encode_hex_text(fmt::format("memory accesses are now {}\n", physical_ ? "guest-physical" : "guest-virtual"));
  }
  if (text == "phys") return encode_hex_text(physical_ ? "phys on\n" : "phys off\n");
  const std::string out = target_->monitor(text);
  return out.empty() ? "OK" : encode_hex_text(out);
}

}  // namespace kxen::gdb
