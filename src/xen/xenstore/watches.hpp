// Registered watches and the matching of node changes against them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xen/xenstore/node_ops.hpp"

namespace kxen::xenstore {

using ConnId = std::uint32_t;
// Receives a fired watch: the event path (relative if the watch was) and the token.
using EventSink = std::function<void(std::string_view path, std::string_view token)>;

struct Watch {
  ConnId conn = 0;
  std::string node;            // canonical absolute path or "@special"
  std::string token;
  std::size_t prefix_len = 0;  // stripped from event paths of a watch registered relative
  std::shared_ptr<const EventSink> sink;
};

// One watch event ready to hand to its sink once the store lock is released.
struct Delivery {
  std::shared_ptr<const EventSink> sink;
  std::string path;
  std::string token;
  void operator()() const { (*sink)(path, token); }
};
using Deliveries = std::vector<Delivery>;

// Memory one delivery holds: the struct, its path and its token.
inline std::size_t delivery_bytes(std::size_t path_size, std::size_t token_size) {
  return sizeof(Delivery) + path_size + token_size;
}

class WatchList final {
 public:
  // EEXIST for a duplicate (path, token) on the connection, E2BIG above `max_for_conn`.
  Result<void> add(Watch watch, std::size_t max_for_conn);
  // ENOENT when the connection has no such watch.
  Result<void> remove(ConnId conn, std::string_view node, std::string_view token);
  void remove_token(ConnId conn, std::string_view token);
  void remove_all(ConnId conn);
  std::size_t count(ConnId conn) const;

  // Events for `change`, for every watch that `admit` accepts. admit(watch, bytes) is asked
  // before the event is built, with what it would cost (delivery_bytes), so it can refuse it.
  using Admit = std::function<bool(const Watch& watch, std::size_t bytes)>;
  void match(const Change& change, const Admit& admit, Deliveries& out) const;
  // The event a watch fires right after registration: its own path.
  static Delivery initial_event(const Watch& watch);

 private:
  std::vector<Watch> watches_;
};

}  // namespace kxen::xenstore
