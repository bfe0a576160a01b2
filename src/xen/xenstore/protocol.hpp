// The XenStore wire protocol (xs_wire.h): decodes one request exactly as xenstored parses it,
// runs it against the store for one connection and encodes the reply or XS_ERROR.
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <xen/io/xs_wire.h>

#include "xen/xenstore/store.hpp"

namespace kxen::xenstore {

static_assert(sizeof(xsd_sockmsg) == 16, "xsd_sockmsg is the 16-byte wire header");

// Header + payload as sent on the wire (host byte order: both ends are the same machine).
std::string encode_message(std::uint32_t type, std::uint32_t req_id, std::uint32_t tx_id, std::string_view payload);
// xs_wire.h's name for an errno ("ENOENT"); unknown values map to "EINVAL" like xenstored.
std::string_view error_name(int err);

class Protocol final {
 public:
  // Receives an encoded XS_WATCH_EVENT message for this connection (called outside the store lock).
  using EventOut = std::function<void(std::string message)>;

  // Opens a store connection for `domid` (0 is privileged); closed by the destructor.
  Protocol(XenStore& store, DomId domid, EventOut on_event);
  ~Protocol();
  Protocol(const Protocol&) = delete;
  Protocol& operator=(const Protocol&) = delete;

  // Handles one complete request and returns the encoded reply. The watch events it causes are
  // appended to `out`: queue the reply first, then XenStore::deliver(out), as xenstored orders them.
  std::string handle(const xsd_sockmsg& header, std::string_view payload, Deliveries& out);
  // Same for raw bytes (header + payload); a short header or a length mismatch gets EINVAL,
  // a payload above XENSTORE_PAYLOAD_MAX gets E2BIG.
  std::string handle_raw(std::string_view bytes, Deliveries& out);

  // Drops all watches and transactions (ring reconnection).
  void reset();
  ConnId conn() const { return conn_; }

 private:
  std::string error_reply(const xsd_sockmsg& header, int err) const;
  Result<std::string> dispatch(const xsd_sockmsg& header, std::string_view payload, Deliveries& out);
  Result<std::string> database_op(std::uint32_t type, Request req, std::string_view payload, Deliveries& out);
  Result<std::string> path_op(std::uint32_t type, Request req, std::string_view payload, Deliveries& out);
  Result<std::string> watch_op(std::uint32_t type, Request req, std::string_view payload, Deliveries& out);
  Result<std::string> transaction_op(std::uint32_t type, Request req, std::string_view payload, Deliveries& out);
  Result<std::string> domain_op(std::uint32_t type, std::string_view payload);

  XenStore& store_;
  DomId domid_;
  ConnId conn_;
};

}  // namespace kxen::xenstore
