#include "xen/xenstore/protocol.hpp"

#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

namespace kxen::xenstore {

namespace {

constexpr std::string_view kOk{"OK\0", 3};

// The payload must be exactly one string with its NUL at the very end (xenstored's onearg).
std::optional<std::string_view> one_arg(std::string_view p) {
  if (p.empty() || p.find('\0') != p.size() - 1) return std::nullopt;
  return p.substr(0, p.size() - 1);
}

// Every NUL-terminated string; bytes after the last NUL are ignored, like get_strings.
std::vector<std::string_view> split_args(std::string_view p) {
  std::vector<std::string_view> out;
  for (std::size_t pos = 0, nul; (nul = p.find('\0', pos)) != std::string_view::npos; pos = nul + 1)
    out.push_back(p.substr(pos, nul - pos));
  return out;
}

template <class Strings>
std::string join_nul(const Strings& strings) {
  std::string out;
  for (const auto& s : strings) {
    out += s;
    out += '\0';
  }
  return out;
}

std::optional<unsigned> parse_uint(std::string_view s, unsigned max) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

// GCC 12's std::expected has no transform(); this is it for replies.
template <class T, class F>
Result<std::string> map_reply(Result<T> r, F&& f) {
  if (!r) return std::unexpected(r.error());
  return f(*r);
}

Result<std::string> ok_or(Result<void> r) {
  if (!r) return std::unexpected(r.error());
  return std::string(kOk);
}

// DIRECTORY_PART reply: "<generation>\0" then children from byte `offset` of the NUL-separated
// list, as many as fit; an extra NUL marks the end of the list.
std::string directory_part_reply(const DirectoryPart& part, std::size_t offset) {
  const std::string all = join_nul(part.children);
  std::string out = std::to_string(part.generation);
  out += '\0';
  if (offset >= all.size()) return out + '\0';
  const std::size_t max = XENSTORE_PAYLOAD_MAX - out.size() - 1;
  std::size_t len = 0;
  while (offset + len < all.size()) {
    const std::size_t next = all.find('\0', offset + len) + 1 - offset;
    if (next > max) break;
    len = next;
  }
  out.append(all, offset, len);
  if (offset + len == all.size()) out += '\0';
  return out;
}

bool privileged_only(std::uint32_t type) {
  switch (type) {
    case XS_CONTROL: case XS_INTRODUCE: case XS_RELEASE: case XS_IS_DOMAIN_INTRODUCED: case XS_RESUME: case XS_SET_TARGET:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string encode_message(std::uint32_t type, std::uint32_t req_id, std::uint32_t tx_id, std::string_view payload) {
  const xsd_sockmsg header{type, req_id, tx_id, static_cast<std::uint32_t>(payload.size())};
  std::string out(sizeof(header) + payload.size(), '\0');
  std::memcpy(out.data(), &header, sizeof(header));
  std::memcpy(out.data() + sizeof(header), payload.data(), payload.size());
  return out;
}

std::string_view error_name(int err) {
  for (const auto& e : xsd_errors)
    if (e.errnum == err) return e.errstring;
  return xsd_errors[0].errstring;
}

Protocol::Protocol(XenStore& store, DomId domid, EventOut on_event) : store_(store), domid_(domid) {
  conn_ = store_.connect(domid, [out = std::move(on_event)](std::string_view path, std::string_view token) {
    out(encode_message(XS_WATCH_EVENT, 0, 0, join_nul(std::initializer_list<std::string_view>{path, token})));
  });
}

Protocol::~Protocol() { store_.disconnect(conn_); }

void Protocol::reset() { (void)store_.reset_watches(Request{conn_, 0}); }

std::string Protocol::handle(const xsd_sockmsg& header, std::string_view payload, Deliveries& out) {
  Result<std::string> reply = std::unexpected(EINVAL);
  if (payload.size() > XENSTORE_PAYLOAD_MAX)
    reply = std::unexpected(E2BIG);
  else if (header.len == payload.size())
    reply = dispatch(header, payload, out);
  if (reply && reply->size() > XENSTORE_PAYLOAD_MAX) reply = std::unexpected(E2BIG);
  if (reply) return encode_message(header.type, header.req_id, header.tx_id, *reply);
  return error_reply(header, reply.error());
}

std::string Protocol::error_reply(const xsd_sockmsg& header, int err) const {
  spdlog::debug("xenstore: d{} request type {} failed: {}", domid_, header.type, error_name(err));
  std::string name(error_name(err));
  name += '\0';
  return encode_message(XS_ERROR, header.req_id, header.tx_id, name);
}

std::string Protocol::handle_raw(std::string_view bytes, Deliveries& out) {
  xsd_sockmsg header{XS_INVALID, 0, 0, 0};
  if (bytes.size() < sizeof(header)) return error_reply(header, EINVAL);
  std::memcpy(&header, bytes.data(), sizeof(header));
  return handle(header, bytes.substr(sizeof(header)), out);
}

Result<std::string> Protocol::dispatch(const xsd_sockmsg& header, std::string_view payload, Deliveries& out) {
  const std::uint32_t type = header.type;
  if (type >= XS_TYPE_COUNT) return std::unexpected(ENOSYS);
  if (privileged_only(type) && domid_ != 0) return std::unexpected(EACCES);
  switch (type) {
    case XS_READ: case XS_WRITE: case XS_MKDIR: case XS_RM: case XS_DIRECTORY: case XS_DIRECTORY_PART:
    case XS_GET_PERMS: case XS_SET_PERMS:
      return database_op(type, Request{conn_, header.tx_id}, payload, out);
    case XS_WATCH: case XS_UNWATCH: case XS_RESET_WATCHES:
      return watch_op(type, Request{conn_, 0}, payload, out);  // tx_id is ignored for watches
    case XS_TRANSACTION_START: case XS_TRANSACTION_END:
      return transaction_op(type, Request{conn_, header.tx_id}, payload, out);
    case XS_GET_DOMAIN_PATH: case XS_INTRODUCE: case XS_RELEASE: case XS_IS_DOMAIN_INTRODUCED:
      return domain_op(type, payload);
    default:  // CONTROL, RESUME, SET_TARGET, and replies sent as requests
      return std::unexpected(ENOSYS);
  }
}

Result<std::string> Protocol::database_op(std::uint32_t type, Request req, std::string_view payload, Deliveries& out) {
  const auto args = split_args(payload);
  if (type == XS_WRITE) {  // "<path>\0<value>": the value is raw bytes without a terminator
    if (args.empty()) return std::unexpected(EINVAL);
    return ok_or(store_.write(req, args[0], payload.substr(args[0].size() + 1), out));
  }
  if (type == XS_SET_PERMS) {
    if (args.size() < 2) return std::unexpected(EINVAL);
    auto perms = parse_perms(std::span(args).subspan(1));
    if (!perms) return std::unexpected(perms.error());
    return ok_or(store_.set_perms(req, args[0], std::move(*perms), out));
  }
  if (type == XS_DIRECTORY_PART) {
    const auto offset = args.size() == 2 ? parse_uint(args[1], 0xffffffffu) : std::nullopt;
    if (!offset) return std::unexpected(EINVAL);
    return map_reply(store_.directory_part(req, args[0]),
                     [&](const DirectoryPart& part) { return directory_part_reply(part, *offset); });
  }
  return path_op(type, req, payload, out);
}

Result<std::string> Protocol::path_op(std::uint32_t type, Request req, std::string_view payload, Deliveries& out) {
  const auto path = one_arg(payload);
  if (!path) return std::unexpected(EINVAL);
  switch (type) {
    case XS_READ: return store_.read(req, *path);
    case XS_MKDIR: return ok_or(store_.mkdir(req, *path, out));
    case XS_RM: return ok_or(store_.rm(req, *path, out));
    case XS_DIRECTORY: return map_reply(store_.directory(req, *path), [](const auto& v) { return join_nul(v); });
    default: return map_reply(store_.get_perms(req, *path), [](const NodePerms& p) { return join_nul(format_perms(p)); });
  }
}

Result<std::string> Protocol::watch_op(std::uint32_t type, Request req, std::string_view payload, Deliveries& out) {
  if (type == XS_RESET_WATCHES) return ok_or(store_.reset_watches(req));
  const auto args = split_args(payload);
  if (args.size() != 2) return std::unexpected(EINVAL);
  if (type == XS_WATCH) return ok_or(store_.watch(req, args[0], args[1], out));
  return ok_or(store_.unwatch(req, args[0], args[1]));
}

Result<std::string> Protocol::transaction_op(std::uint32_t type, Request req, std::string_view payload, Deliveries& out) {
  if (type == XS_TRANSACTION_START) {
    return map_reply(store_.transaction_start(req), [](TxId id) { return std::to_string(id) + '\0'; });
  }
  const auto arg = one_arg(payload);
  if (!arg || (*arg != "T" && *arg != "F")) return std::unexpected(EINVAL);
  return ok_or(store_.transaction_end(req, *arg == "T", out));
}

Result<std::string> Protocol::domain_op(std::uint32_t type, std::string_view payload) {
  const auto args = split_args(payload);
  if (args.empty()) return std::unexpected(EINVAL);
  const auto domid = parse_uint(args[0], 0xffff);
  if (!domid) return std::unexpected(EINVAL);
  const auto id = static_cast<DomId>(*domid);
  switch (type) {
    case XS_GET_DOMAIN_PATH: return domain_path(id) + '\0';
    case XS_IS_DOMAIN_INTRODUCED: return std::string(store_.is_domain_introduced(id) ? "T" : "F") + '\0';
    case XS_INTRODUCE:
      // The ring itself is connected by the VM; the store records the domain and fires the watch.
      if (args.size() < 3 || id == 0) return std::unexpected(EINVAL);
      store_.introduce_domain(id);
      return std::string(kOk);
    default:
      store_.release_domain(id);
      return std::string(kOk);
  }
}

}  // namespace kxen::xenstore
