#include "xen/xenstore/watches.hpp"

#include <cerrno>
#include <cstdint>
#include <xen/io/xs_wire.h>

#include <algorithm>

namespace kxen::xenstore {

namespace {

std::string event_path(const Watch& w, std::string_view path) {
  return std::string(path.size() >= w.prefix_len ? path.substr(w.prefix_len) : path);
}

bool fires(const Watch& w, const Change& change) {
  return change.exact ? w.node == change.path : is_child_or_self(change.path, w.node);
}

}  // namespace

Result<void> WatchList::add(Watch watch, std::size_t max_for_conn) {
  const bool duplicate = std::any_of(watches_.begin(), watches_.end(), [&](const Watch& w) {
    return w.conn == watch.conn && w.node == watch.node && w.token == watch.token;
  });
  if (duplicate) return std::unexpected(EEXIST);
  if (count(watch.conn) >= max_for_conn) return std::unexpected(E2BIG);
  watches_.push_back(std::move(watch));
  return {};
}

Result<void> WatchList::remove(ConnId conn, std::string_view node, std::string_view token) {
  auto it = std::find_if(watches_.begin(), watches_.end(), [&](const Watch& w) {
    return w.conn == conn && w.node == node && w.token == token;
  });
  if (it == watches_.end()) return std::unexpected(ENOENT);
  watches_.erase(it);
  return {};
}

void WatchList::remove_token(ConnId conn, std::string_view token) {
  std::erase_if(watches_, [&](const Watch& w) { return w.conn == conn && w.token == token; });
}

void WatchList::remove_all(ConnId conn) {
  std::erase_if(watches_, [&](const Watch& w) { return w.conn == conn; });
}

std::size_t WatchList::count(ConnId conn) const {
  return static_cast<std::size_t>(std::count_if(watches_.begin(), watches_.end(), [&](const Watch& w) { return w.conn == conn; }));
}

void WatchList::match(const Change& change, const Admit& admit, Deliveries& out) const {
  for (const auto& w : watches_) {
    if (!fires(w, change)) continue;
    const std::size_t size = change.path.size();
    const std::size_t path_size = size >= w.prefix_len ? size - w.prefix_len : size;  // as event_path()
    // An event that does not fit one message is dropped, as xenstored does.
    if (path_size + w.token.size() + 2 > XENSTORE_PAYLOAD_MAX) continue;
    if (!admit(w, delivery_bytes(path_size, w.token.size()))) continue;
    out.push_back(Delivery{w.sink, event_path(w, change.path), w.token});
  }
}

Delivery WatchList::initial_event(const Watch& watch) {
  return Delivery{watch.sink, event_path(watch, watch.node), watch.token};
}

}  // namespace kxen::xenstore
