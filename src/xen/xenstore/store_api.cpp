// The in-process (dom0) API, domain introduction and connection lifetime.
#include <cerrno>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xen/xenstore/store.hpp"

namespace kxen::xenstore {

namespace {

// Runs a modifying request and delivers its watch events before returning.
template <class F>
Result<void> deliver_after(F&& f) {
  Deliveries out;
  auto result = f(out);
  XenStore::deliver(out);
  return result;
}

}  // namespace

Result<std::string> XenStore::read(std::string_view path, TxId tx) { return read(Request{kDom0Conn, tx}, path); }

Result<void> XenStore::write(std::string_view path, std::string_view value, TxId tx) {
  return deliver_after([&](Deliveries& out) { return write(Request{kDom0Conn, tx}, path, value, out); });
}

Result<void> XenStore::mkdir(std::string_view path, TxId tx) {
  return deliver_after([&](Deliveries& out) { return mkdir(Request{kDom0Conn, tx}, path, out); });
}

Result<void> XenStore::rm(std::string_view path, TxId tx) {
  return deliver_after([&](Deliveries& out) { return rm(Request{kDom0Conn, tx}, path, out); });
}

Result<std::vector<std::string>> XenStore::directory(std::string_view path, TxId tx) {
  return directory(Request{kDom0Conn, tx}, path);
}

Result<NodePerms> XenStore::get_perms(std::string_view path, TxId tx) { return get_perms(Request{kDom0Conn, tx}, path); }

Result<void> XenStore::set_perms(std::string_view path, NodePerms perms, TxId tx) {
  return deliver_after([&](Deliveries& out) { return set_perms(Request{kDom0Conn, tx}, path, std::move(perms), out); });
}

Result<TxId> XenStore::transaction_start() { return transaction_start(Request{kDom0Conn, 0}); }

Result<void> XenStore::transaction_end(TxId tx, bool commit) {
  return deliver_after([&](Deliveries& out) { return transaction_end(Request{kDom0Conn, tx}, commit, out); });
}

Result<WatchId> XenStore::watch(std::string_view path, std::function<void(std::string_view path)> callback) {
  if (!callback) return std::unexpected(EINVAL);
  Deliveries out;
  WatchId id = 0;
  {
    std::lock_guard lock(mutex_);
    auto abs = canonical_path(path, 0, true);
    if (!abs) return std::unexpected(abs.error());
    id = next_watch_++;
    auto sink = std::make_shared<const EventSink>(
        [cb = std::move(callback)](std::string_view p, std::string_view) { cb(p); });
    Watch w{kDom0Conn, *abs, fmt::format("kxen-watch-{}", id), 0, std::move(sink)};
    out.push_back(WatchList::initial_event(w));
    if (auto ok = watches_.add(std::move(w), std::numeric_limits<std::size_t>::max()); !ok)
      return std::unexpected(ok.error());
  }
  deliver(out);
  return id;
}

void XenStore::unwatch(WatchId id) {
  std::lock_guard lock(mutex_);
  watches_.remove_token(kDom0Conn, fmt::format("kxen-watch-{}", id));
}

void XenStore::fire_special(std::string_view name) {
  Deliveries out;
  {
    std::lock_guard lock(mutex_);
    const std::string path(name);
    const Node* node = tree_.find(path);
    if (!node) return;
    fire_locked(Changes{Change{path, false, node->perms, std::nullopt}}, out);
  }
  deliver(out);
}

void XenStore::introduce_domain(DomId domid) {
  {
    std::lock_guard lock(mutex_);
    introduced_.insert(domid);
  }
  spdlog::debug("xenstore: domain {} introduced", domid);
  fire_special("@introduceDomain");
}

void XenStore::release_domain(DomId domid) {
  {
    std::lock_guard lock(mutex_);
    if (introduced_.erase(domid) == 0) return;
  }
  spdlog::debug("xenstore: domain {} released", domid);
  fire_special("@releaseDomain");
}

bool XenStore::is_domain_introduced(DomId domid) const {
  std::lock_guard lock(mutex_);
  return introduced_.contains(domid);
}

ConnId XenStore::connect(DomId domid, EventSink sink) {
  std::lock_guard lock(mutex_);
  auto conn = std::make_unique<Conn>();
  conn->domid = domid;
  conn->privileged = domid == 0;
  if (sink) conn->sink = std::make_shared<const EventSink>(std::move(sink));
  while (next_conn_ == kDom0Conn || conns_.contains(next_conn_)) ++next_conn_;
  const ConnId id = next_conn_++;
  conns_.emplace(id, std::move(conn));
  return id;
}

void XenStore::disconnect(ConnId conn) {
  if (conn == kDom0Conn) return;
  std::lock_guard lock(mutex_);
  watches_.remove_all(conn);
  conns_.erase(conn);
}

Result<DomId> XenStore::domid_of(ConnId conn) const {
  std::lock_guard lock(mutex_);
  auto it = conns_.find(conn);
  if (it == conns_.end()) return std::unexpected(EINVAL);
  return it->second->domid;
}

}  // namespace kxen::xenstore
