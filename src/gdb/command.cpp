#include "gdb/command.hpp"

#include "gdb/hex.hpp"

namespace kxen::gdb {

namespace {

// Splits at the first `sep`: (before, after); after is nullopt when sep is absent.
std::pair<std::string_view, std::optional<std::string_view>> split(std::string_view text, char sep) {
  const auto at = text.find(sep);
  if (at == std::string_view::npos) return {text, std::nullopt};
  return {text.substr(0, at), text.substr(at + 1)};
}

// "ADDR,LEN" as two hex numbers.
std::optional<std::pair<std::uint64_t, std::uint64_t>> addr_len(std::string_view text) {
  const auto [a, l] = split(text, ',');
  if (!l) return std::nullopt;
  auto addr = parse_hex(a);
  auto len = parse_hex(*l);
  if (!addr || !len) return std::nullopt;
  return std::pair{*addr, *len};
}

Command parse_memory_write(std::string_view body, bool binary) {
  const auto [head, data] = split(body, ':');
  if (!data) return Malformed{};
  auto range = addr_len(head);
  if (!range) return Malformed{};
  std::vector<std::byte> bytes;
  if (binary) {
    for (char c : *data) bytes.push_back(static_cast<std::byte>(c));  // unescaped by the decoder
  } else {
    auto decoded = decode_hex_bytes(*data);
    if (!decoded) return Malformed{};
    bytes = std::move(*decoded);
  }
  if (bytes.size() != range->second) return Malformed{};
  return WriteMemory{range->first, std::move(bytes)};
}

Command parse_breakpoint(std::string_view payload) {
  // Z<type>,<addr>,<kind>[;cond...]: conditions are not offered, so ignored.
  const auto [main, conditions] = split(payload.substr(1), ';');
  (void)conditions;
  const auto [type_text, rest] = split(main, ',');
  if (!rest || type_text.size() != 1 || type_text[0] < '0' || type_text[0] > '4') return Malformed{};
  auto range = addr_len(*rest);
  if (!range) return Malformed{};
  return Breakpoint{payload[0] == 'Z', type_text[0] - '0', range->first, range->second};
}

Command parse_resume(std::string_view payload) {
  Resume r{payload[0] == 's', std::nullopt};
  if (payload.size() > 1) {
    auto addr = parse_hex(payload.substr(1));
    if (!addr) return Malformed{};
    r.addr = addr;
  }
  return r;
}

Command parse_vcont(std::string_view body) {
  if (body == "?") return VContQuery{};
  if (body.empty() || body[0] != ';') return Malformed{};
  VCont v;
  std::string_view rest = body.substr(1);
  for (;;) {
    const auto [item, more] = split(rest, ';');
    const auto [act, thread] = split(item, ':');
    if (act.empty()) return Malformed{};
    const char a = act[0];
    // cSIG/sSIG: signals mean nothing to a VM; resume as c/s.
    if (a == 'C' || a == 'S') {
      if (act.size() != 3 || !parse_hex(act.substr(1))) return Malformed{};
    } else if ((a != 'c' && a != 's' && a != 't') || act.size() != 1) {
      return Malformed{};
    }
    std::int64_t tid = kAllThreads;
    if (thread) {
      auto t = parse_thread_id(*thread);
      if (!t) return Malformed{};
      tid = *t;
    }
    v.actions.push_back({a == 'C' ? 'c' : a == 'S' ? 's' : a, tid});
    if (!more) break;
    rest = *more;
  }
  return v;
}

Command parse_xfer(std::string_view body) {
  // qXfer:features:read:ANNEX:OFFSET,LENGTH
  constexpr std::string_view kPrefix = "features:read:";
  if (!body.starts_with(kPrefix)) return Unknown{};
  const auto [annex, range_text] = split(body.substr(kPrefix.size()), ':');
  if (!range_text) return Malformed{};
  auto range = addr_len(*range_text);
  if (!range) return Malformed{};
  return QueryFeatures{std::string(annex), range->first, range->second};
}

Command parse_query(std::string_view p) {
  if (p.starts_with("qSupported")) return QuerySupported{};
  if (p == "qAttached" || p.starts_with("qAttached:")) return QueryAttached{};
  if (p == "qC") return QueryCurrentThread{};
  if (p == "qfThreadInfo") return QueryThreadList{true};
  if (p == "qsThreadInfo") return QueryThreadList{false};
  if (p.starts_with("qThreadExtraInfo,")) {
    auto t = parse_thread_id(p.substr(17));
    if (!t) return Malformed{};
    return QueryThreadExtra{*t};
  }
  if (p.starts_with("qXfer:")) return parse_xfer(p.substr(6));
  if (p.starts_with("qRcmd,")) {
    auto bytes = decode_hex_bytes(p.substr(6));
    if (!bytes) return Malformed{};
    return MonitorCommand{std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size())};
  }
  if (p == "qqemu.PhyMemMode") return QueryPhysMode{};
  return Unknown{};
}

Command parse_set(std::string_view p) {
  if (p == "QStartNoAckMode") return StartNoAck{};
  if (p == "Qqemu.PhyMemMode:1") return SetPhysMode{true};
  if (p == "Qqemu.PhyMemMode:0") return SetPhysMode{false};
  return Unknown{};
}

Command parse_register(std::string_view p) {
  const auto [reg_text, value] = split(p.substr(1), '=');
  auto reg = parse_hex(reg_text);
  if (!reg || *reg > 0xffff) return Malformed{};
  const auto r = static_cast<std::uint32_t>(*reg);
  if (p[0] == 'p') return value ? Command{Malformed{}} : Command{ReadRegister{r}};
  if (!value) return Malformed{};
  auto bytes = decode_hex_bytes(*value);
  if (!bytes) return Malformed{};
  return WriteRegister{r, std::move(*bytes)};
}

}  // namespace

std::optional<std::int64_t> parse_thread_id(std::string_view text) {
  if (text == "-1") return kAllThreads;
  auto v = parse_hex(text);
  if (!v || *v > 0x7fffffff) return std::nullopt;
  return static_cast<std::int64_t>(*v);
}

Command parse_command(std::string_view p) {
  if (p.empty()) return Unknown{};
  switch (p[0]) {
    case '?': return QueryHaltReason{};
    case 'q': return parse_query(p);
    case 'Q': return parse_set(p);
    case 'g': return p.size() == 1 ? Command{ReadRegisters{}} : Command{Malformed{}};
    case 'G': {
      auto bytes = decode_hex_bytes(p.substr(1));
      if (!bytes) return Malformed{};
      return WriteRegisters{std::move(*bytes)};
    }
    case 'p':
    case 'P': return parse_register(p);
    case 'm': {
      auto range = addr_len(p.substr(1));
      if (!range) return Malformed{};
      return ReadMemory{range->first, range->second};
    }
    case 'M': return parse_memory_write(p.substr(1), false);
    case 'X': return parse_memory_write(p.substr(1), true);
    case 'Z':
    case 'z': return parse_breakpoint(p);
    case 'c':
    case 's': return parse_resume(p);
    case 'v':
      if (p.starts_with("vCont")) return parse_vcont(p.substr(5));
      return Unknown{};  // vMustReplyEmpty, vKill, vFile...: not offered
    case 'H': {
      if (p.size() < 3 || (p[1] != 'g' && p[1] != 'c')) return Malformed{};
      auto t = parse_thread_id(p.substr(2));
      if (!t) return Malformed{};
      return SetThread{p[1], *t};
    }
    case 'T': {
      auto t = parse_thread_id(p.substr(1));
      if (!t) return Malformed{};
      return ThreadAlive{*t};
    }
    case 'D': return Detach{};
    case 'k': return Kill{};
    default: return Unknown{};
  }
}

}  // namespace kxen::gdb
