// XenStore node operations with xenstored's permission rules and per-domain quotas, written once
// against NodeStore so they run the same on the committed tree and inside a transaction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <xen/io/xs_wire.h>

#include "xen/xenstore/tree.hpp"

namespace kxen::xenstore {

// Limits for unprivileged domains (dom0 is exempt, as in xenstored). Errors: ENOSPC for nodes,
// bytes, value size, depth, permissions and transactions; E2BIG for watches. Every limit is
// checked before the memory it guards is allocated, so a refused request costs nothing.
struct Quota {
  std::size_t max_nodes = 1000;           // nodes a domain may own
  std::size_t max_value = XENSTORE_PAYLOAD_MAX;  // bytes per value
  std::size_t max_watches = 128;
  std::size_t max_transactions = 10;
  std::size_t max_depth = 32;             // path components
  std::size_t max_perms = 5;              // entries per SET_PERMS
  std::size_t max_transaction_nodes = 1024;  // nodes one transaction may read or write
  // node_bytes() of the nodes a domain owns: xenstored's 2 MiB memory quota, which it sizes
  // as 1000 nodes of about 2 KiB.
  std::size_t max_domain_bytes = 2 * 1024 * 1024;
  // What one transaction may hold (reads, copies of nodes, pending events): ten of them stay
  // near the domain quota, and Linux's transactions touch a few small nodes.
  std::size_t max_transaction_bytes = 256 * 1024;
  // Watch events one request may raise for one connection (paths, tokens, bookkeeping): the
  // ring queues no more than this for a guest anyway, so more would only be dropped later.
  std::size_t max_event_bytes = 256 * 1024;
};

struct Caller {
  DomId domid = 0;
  bool privileged = true;
  const Quota* quota = nullptr;  // required for unprivileged callers
};

// A modification watches must hear about. `exact`: only watches on exactly this path fire
// (descendants of a removed node). Both perm sets decide who may see the event.
struct Change {
  std::string path;
  bool exact = false;
  NodePerms perms;
  std::optional<NodePerms> old_perms;
};
using Changes = std::vector<Change>;

// The node if `caller` has all of `need`; else EACCES, or ENOENT when it is missing and the
// nearest existing ancestor grants `need` (so a domain learns nothing about hidden nodes).
Result<const Node*> get_node(NodeStore& store, const Caller& caller, const std::string& path, unsigned need);

// WRITE: creates missing parents (inheriting their parent's perms, owned by the guest creator).
Result<void> write_node(NodeStore& store, const Caller& caller, const std::string& path, std::string_view value,
                        Changes& changes);
// MKDIR: like WRITE with an empty value, but leaves an existing node untouched.
Result<void> make_node(NodeStore& store, const Caller& caller, const std::string& path, Changes& changes);
// RM: removes the subtree; a missing node is fine when its parent exists.
Result<void> remove_node(NodeStore& store, const Caller& caller, const std::string& path, Changes& changes);
// SET_PERMS: only the owner (or dom0) may, and a guest may not hand the node to another domain.
Result<void> set_node_perms(NodeStore& store, const Caller& caller, const std::string& path, NodePerms perms,
                            Changes& changes);

}  // namespace kxen::xenstore
