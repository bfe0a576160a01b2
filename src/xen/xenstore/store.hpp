// XenStore: the tree, transactions, watches and connections behind one mutex, with the
// in-process API the toolstack and backends use as dom0.
//
// Lock order: XenStore::mutex_ is a leaf. It is never held while a watch sink or callback runs:
// operations collect Deliveries under the lock and run them after unlocking, so a callback may
// call back into the store. A callback can still run shortly after unwatch() returned.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "xen/xenstore/node_ops.hpp"
#include "xen/xenstore/transaction.hpp"
#include "xen/xenstore/tree.hpp"
#include "xen/xenstore/watches.hpp"

namespace kxen::xenstore {

using TxId = std::uint32_t;
using WatchId = std::uint64_t;

// Who asks, and in which transaction (0: none).
struct Request {
  ConnId conn = 0;
  TxId tx = 0;
};

struct DirectoryPart {
  std::uint64_t generation = 0;
  std::vector<std::string> children;
};

class XenStore final {
 public:
  static constexpr ConnId kDom0Conn = 0;  // the in-process toolstack/backends connection

  explicit XenStore(Quota quota = {});
  ~XenStore();
  XenStore(const XenStore&) = delete;
  XenStore& operator=(const XenStore&) = delete;

  // ---- In-process API: runs as dom0; watch callbacks have run before a call returns. ----
  Result<std::string> read(std::string_view path, TxId tx = 0);
  Result<void> write(std::string_view path, std::string_view value, TxId tx = 0);
  Result<void> mkdir(std::string_view path, TxId tx = 0);
  Result<void> rm(std::string_view path, TxId tx = 0);
  Result<std::vector<std::string>> directory(std::string_view path, TxId tx = 0);
  Result<NodePerms> get_perms(std::string_view path, TxId tx = 0);
  Result<void> set_perms(std::string_view path, NodePerms perms, TxId tx = 0);
  Result<TxId> transaction_start();
  Result<void> transaction_end(TxId tx, bool commit);
  // The callback gets the changed path; it fires once right away, then on every change at or
  // below `path` (or on the special event for "@introduceDomain" / "@releaseDomain").
  Result<WatchId> watch(std::string_view path, std::function<void(std::string_view path)> callback);
  void unwatch(WatchId id);

  // ---- Domains ----
  void introduce_domain(DomId domid);  // fires @introduceDomain
  void release_domain(DomId domid);    // fires @releaseDomain
  bool is_domain_introduced(DomId domid) const;

  // ---- Connections (a guest's ring, or tests): domid 0 is privileged. ----
  ConnId connect(DomId domid, EventSink sink);
  void disconnect(ConnId conn);  // drops its watches and transactions
  Result<DomId> domid_of(ConnId conn) const;

  // Connection requests. `path` as sent: relative paths resolve against the connection's home.
  // Watch events they cause are appended to `out`; run deliver(out) after sending the reply.
  Result<std::string> read(Request req, std::string_view path);
  Result<void> write(Request req, std::string_view path, std::string_view value, Deliveries& out);
  Result<void> mkdir(Request req, std::string_view path, Deliveries& out);
  Result<void> rm(Request req, std::string_view path, Deliveries& out);
  Result<std::vector<std::string>> directory(Request req, std::string_view path);
  Result<DirectoryPart> directory_part(Request req, std::string_view path);
  Result<NodePerms> get_perms(Request req, std::string_view path);
  Result<void> set_perms(Request req, std::string_view path, NodePerms perms, Deliveries& out);
  Result<void> watch(Request req, std::string_view path, std::string_view token, Deliveries& out);
  Result<void> unwatch(Request req, std::string_view path, std::string_view token);
  Result<TxId> transaction_start(Request req);
  Result<void> transaction_end(Request req, bool commit, Deliveries& out);
  Result<void> reset_watches(Request req);  // drops the connection's watches and transactions
  // What an open transaction holds (ENOENT without one), for tests and diagnostics.
  Result<TransactionUsage> transaction_usage(Request req);

  static void deliver(const Deliveries& deliveries);

 private:
  struct Conn {
    DomId domid = 0;
    bool privileged = false;
    std::shared_ptr<const EventSink> sink;  // shared by the connection's watches
    std::map<TxId, std::unique_ptr<Transaction>> txs;
    TxId next_tx = 1;
  };
  struct Context;

  Result<Context> context_locked(Request req);
  // Runs a modifying node operation: its events fire now, or at commit inside a transaction.
  template <class Op>
  Result<void> modify(Request req, std::string_view path, bool allow_special, Deliveries& out, Op&& op);
  // Looks a node up for reading and returns fn(node), under the lock.
  template <class Fn>
  auto inspect(Request req, std::string_view path, bool allow_special, Fn&& fn)
      -> Result<std::invoke_result_t<Fn, const Node&>>;
  Result<Conn*> conn_locked(ConnId id);
  void fire_locked(const Changes& changes, Deliveries& out);
  bool may_see_locked(const Conn& conn, const Change& change);
  void fire_special(std::string_view name);

  mutable std::mutex mutex_;
  Quota quota_;
  Tree tree_;
  WatchList watches_;
  std::map<ConnId, std::unique_ptr<Conn>> conns_;
  std::set<DomId> introduced_;
  ConnId next_conn_ = 1;
  WatchId next_watch_ = 1;
};

}  // namespace kxen::xenstore
