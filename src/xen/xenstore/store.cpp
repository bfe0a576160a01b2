// Connection-level requests: resolve the connection, transaction and path, run the node
// operation on the right view, turn changes into watch deliveries.
#include "xen/xenstore/store.hpp"

#include <cerrno>
#include <limits>

#include <spdlog/spdlog.h>

#include "kxen/log.hpp"

namespace kxen::xenstore {

struct XenStore::Context {
  Conn* conn = nullptr;
  NodeStore* store = nullptr;
  Transaction* tx = nullptr;
  Caller caller;
};

XenStore::XenStore(Quota quota) : quota_(quota) {
  auto dom0 = std::make_unique<Conn>();
  dom0->privileged = true;
  conns_.emplace(kDom0Conn, std::move(dom0));
}

XenStore::~XenStore() = default;

Result<XenStore::Conn*> XenStore::conn_locked(ConnId id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return std::unexpected(EINVAL);
  return it->second.get();
}

Result<XenStore::Context> XenStore::context_locked(Request req) {
  auto conn = conn_locked(req.conn);
  if (!conn) return std::unexpected(conn.error());
  Context ctx{*conn, &tree_, nullptr, Caller{(*conn)->domid, (*conn)->privileged, &quota_}};
  if (req.tx != 0) {
    auto it = (*conn)->txs.find(req.tx);
    if (it == (*conn)->txs.end()) return std::unexpected(ENOENT);
    ctx.tx = it->second.get();
    ctx.store = ctx.tx;
  }
  return ctx;
}

bool XenStore::may_see_locked(const Conn& c, const Change& change) {
  auto readable = [&](const NodePerms& p) { return (access_for(p, c.domid, c.privileged) & kAccessRead) != 0; };
  if (readable(change.perms) || (change.old_perms && readable(*change.old_perms))) return true;
  if (is_special(change.path) || change.path == "/") return false;
  const Node* parent = tree_.find(parent_of(change.path));
  return parent && readable(parent->perms);
}

// Each guest connection may get max_event_bytes of events from one batch; the rest are dropped
// before they are built, as the ring would drop them once its queue is full.
void XenStore::fire_locked(const Changes& changes, Deliveries& out) {
  std::map<ConnId, std::size_t> charged;
  std::size_t dropped = 0;
  for (const auto& change : changes) {
    watches_.match(change, [&](const Watch& w, std::size_t bytes) {
      auto it = conns_.find(w.conn);
      if (it == conns_.end() || !may_see_locked(*it->second, change)) return false;
      if (it->second->privileged) return true;
      std::size_t& used = charged[w.conn];
      if (used + bytes > quota_.max_event_bytes) {
        ++dropped;
        return false;
      }
      used += bytes;
      return true;
    }, out);
  }
  if (dropped > 0) KXEN_GUEST_WARN("xenstore: dropped {} watch events over the per-connection quota", dropped);
}

void XenStore::deliver(const Deliveries& deliveries) {
  for (const auto& d : deliveries) d();
}

// A transaction that overflowed refuses requests before anything is recorded; the request that
// overflows it gets ENOSPC and frees what the transaction held.
template <class Op>
Result<void> XenStore::modify(Request req, std::string_view path, bool allow_special, Deliveries& out, Op&& op) {
  std::lock_guard lock(mutex_);
  auto ctx = context_locked(req);
  if (!ctx) return std::unexpected(ctx.error());
  if (ctx->tx && ctx->tx->overflowed()) return std::unexpected(ENOSPC);
  auto abs = canonical_path(path, ctx->caller.domid, allow_special);
  if (!abs) return std::unexpected(abs.error());
  Changes changes;
  auto result = op(*ctx->store, ctx->caller, *abs, changes);
  if (!ctx->tx) {
    if (result) fire_locked(changes, out);
    return result;
  }
  if (result) ctx->tx->record(changes);
  if (!ctx->tx->overflowed()) return result;
  ctx->tx->discard();
  return std::unexpected(ENOSPC);
}

template <class Fn>
auto XenStore::inspect(Request req, std::string_view path, bool allow_special, Fn&& fn)
    -> Result<std::invoke_result_t<Fn, const Node&>> {
  std::lock_guard lock(mutex_);
  auto ctx = context_locked(req);
  if (!ctx) return std::unexpected(ctx.error());
  if (ctx->tx && ctx->tx->overflowed()) return std::unexpected(ENOSPC);
  auto abs = canonical_path(path, ctx->caller.domid, allow_special);
  if (!abs) return std::unexpected(abs.error());
  auto node = get_node(*ctx->store, ctx->caller, *abs, kAccessRead);
  if (ctx->tx && ctx->tx->overflowed()) {
    ctx->tx->discard();
    return std::unexpected(ENOSPC);
  }
  if (!node) return std::unexpected(node.error());
  return fn(**node);
}

Result<void> XenStore::write(Request req, std::string_view path, std::string_view value, Deliveries& out) {
  return modify(req, path, false, out, [&](NodeStore& store, const Caller& caller, const std::string& abs, Changes& ch) {
    return write_node(store, caller, abs, value, ch);
  });
}

Result<void> XenStore::mkdir(Request req, std::string_view path, Deliveries& out) {
  return modify(req, path, false, out, make_node);
}

Result<void> XenStore::rm(Request req, std::string_view path, Deliveries& out) {
  return modify(req, path, false, out, remove_node);
}

Result<void> XenStore::set_perms(Request req, std::string_view path, NodePerms perms, Deliveries& out) {
  return modify(req, path, true, out, [&](NodeStore& store, const Caller& caller, const std::string& abs, Changes& ch) {
    return set_node_perms(store, caller, abs, std::move(perms), ch);
  });
}

Result<std::string> XenStore::read(Request req, std::string_view path) {
  return inspect(req, path, false, [](const Node& n) { return n.value; });
}

Result<std::vector<std::string>> XenStore::directory(Request req, std::string_view path) {
  return inspect(req, path, false, [](const Node& n) { return n.children; });
}

Result<DirectoryPart> XenStore::directory_part(Request req, std::string_view path) {
  return inspect(req, path, false, [](const Node& n) { return DirectoryPart{n.generation, n.children}; });
}

Result<NodePerms> XenStore::get_perms(Request req, std::string_view path) {
  return inspect(req, path, true, [](const Node& n) { return n.perms; });
}

Result<void> XenStore::watch(Request req, std::string_view path, std::string_view token, Deliveries& out) {
  std::lock_guard lock(mutex_);
  auto conn = conn_locked(req.conn);
  if (!conn) return std::unexpected(conn.error());
  auto abs = canonical_path(path, (*conn)->domid, true);
  if (!abs) return std::unexpected(abs.error());
  const bool relative = !path.starts_with('/') && !is_special(path);
  Watch w{req.conn, *abs, std::string(token), relative ? domain_path((*conn)->domid).size() + 1 : 0, (*conn)->sink};
  if (!w.sink) return std::unexpected(EINVAL);
  const auto max = (*conn)->privileged ? std::numeric_limits<std::size_t>::max() : quota_.max_watches;
  out.push_back(WatchList::initial_event(w));
  if (auto ok = watches_.add(std::move(w), max); !ok) {
    out.pop_back();
    return ok;
  }
  return {};
}

Result<void> XenStore::unwatch(Request req, std::string_view path, std::string_view token) {
  std::lock_guard lock(mutex_);
  auto conn = conn_locked(req.conn);
  if (!conn) return std::unexpected(conn.error());
  auto abs = canonical_path(path, (*conn)->domid, true);
  if (!abs) return std::unexpected(abs.error());
  return watches_.remove(req.conn, *abs, token);
}

Result<TxId> XenStore::transaction_start(Request req) {
  std::lock_guard lock(mutex_);
  auto ctx = context_locked(req);
  if (!ctx) return std::unexpected(ctx.error());
  if (ctx->tx) return std::unexpected(EBUSY);  // no nested transactions
  Conn& c = *ctx->conn;
  if (!c.privileged && c.txs.size() >= quota_.max_transactions) return std::unexpected(ENOSPC);
  while (c.next_tx == 0 || c.txs.contains(c.next_tx)) ++c.next_tx;
  const TxId id = c.next_tx++;
  constexpr auto kNoLimit = std::numeric_limits<std::size_t>::max();
  const auto limits = c.privileged ? TransactionLimits{kNoLimit, kNoLimit}
                                   : TransactionLimits{quota_.max_transaction_nodes, quota_.max_transaction_bytes};
  c.txs.emplace(id, std::make_unique<Transaction>(tree_, limits));
  return id;
}

Result<void> XenStore::transaction_end(Request req, bool commit, Deliveries& out) {
  std::lock_guard lock(mutex_);
  auto ctx = context_locked(req);
  if (!ctx) return std::unexpected(ctx.error());
  if (!ctx->tx) return std::unexpected(ENOENT);
  auto owned = std::move(ctx->conn->txs.at(req.tx));
  ctx->conn->txs.erase(req.tx);
  if (!commit) return {};
  auto changes = owned->commit(ctx->caller);
  if (!changes) return std::unexpected(changes.error());
  fire_locked(*changes, out);
  return {};
}

Result<TransactionUsage> XenStore::transaction_usage(Request req) {
  std::lock_guard lock(mutex_);
  auto ctx = context_locked(req);
  if (!ctx) return std::unexpected(ctx.error());
  if (!ctx->tx) return std::unexpected(ENOENT);
  return ctx->tx->usage();
}

Result<void> XenStore::reset_watches(Request req) {
  std::lock_guard lock(mutex_);
  auto conn = conn_locked(req.conn);
  if (!conn) return std::unexpected(conn.error());
  watches_.remove_all(req.conn);
  (*conn)->txs.clear();
  return {};
}

}  // namespace kxen::xenstore
