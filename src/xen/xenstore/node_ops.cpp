#include "xen/xenstore/node_ops.hpp"

#include <cerrno>
#include <cstdint>
#include <xen/io/xs_wire.h>

#include <algorithm>
#include <utility>

namespace kxen::xenstore {

namespace {

std::size_t perms_bytes(const NodePerms& perms) { return perms.entries.size() * sizeof(PermEntry); }

// The access the nearest existing ancestor of `path` grants (xenstored's ask_parents).
unsigned ancestor_access(NodeStore& store, const Caller& caller, std::string path) {
  while (path != "/") {
    path = parent_of(path);
    if (const Node* n = store.find(path)) return access_for(n->perms, caller.domid, caller.privileged);
  }
  return kAccessNone;
}

// Missing nodes from `path` up to (not including) the nearest existing ancestor, deepest first.
std::vector<std::string> missing_chain(NodeStore& store, const std::string& path) {
  std::vector<std::string> chain;
  for (std::string p = path; p != "/" && !store.find(p); p = parent_of(p)) chain.push_back(p);
  return chain;
}

// ENOSPC when `owner`'s nodes would exceed the byte quota after growing by `grow` bytes.
Result<void> check_bytes(NodeStore& store, const Caller& caller, DomId owner, std::size_t grow) {
  if (caller.privileged || owner == 0 || grow == 0) return {};  // dom0's nodes are not charged
  if (store.owned_bytes(owner) + grow > caller.quota->max_domain_bytes) return std::unexpected(ENOSPC);
  return {};
}

// Bytes `chain` (deepest first, its last value `value`) adds to its creator, as node_bytes().
std::size_t chain_bytes(NodeStore& store, const std::vector<std::string>& chain, std::string_view value) {
  const Node* ancestor = store.find(parent_of(chain.back()));
  Node probe;
  probe.perms = ancestor ? ancestor->perms : NodePerms{};
  std::size_t bytes = value.size();
  for (const auto& p : chain) bytes += node_bytes(p, probe);
  return bytes;
}

Result<void> check_create_quota(NodeStore& store, const Caller& caller, const std::string& path,
                                const std::vector<std::string>& chain, std::string_view value) {
  if (caller.privileged) return {};
  if (path_depth(path) > caller.quota->max_depth) return std::unexpected(ENOSPC);
  if (store.owned_by(caller.domid) + chain.size() > caller.quota->max_nodes) return std::unexpected(ENOSPC);
  return check_bytes(store, caller, caller.domid, chain_bytes(store, chain, value));
}

Result<void> check_value(const Caller& caller, std::string_view value) {
  if (value.size() > XENSTORE_PAYLOAD_MAX) return std::unexpected(E2BIG);
  if (!caller.privileged && value.size() > caller.quota->max_value) return std::unexpected(ENOSPC);
  return {};
}

// Creates `path` and its missing parents; the caller has already checked permissions.
Result<void> create_node(NodeStore& store, const Caller& caller, const std::string& path, std::string_view value,
                         Changes& changes) {
  const auto chain = missing_chain(store, path);
  if (auto ok = check_create_quota(store, caller, path, chain, value); !ok) return ok;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const std::string parent_path = parent_of(*it);
    Node parent = *store.find(parent_path);
    parent.children.emplace_back(basename_of(*it));
    Node child;
    child.perms = parent.perms;
    if (!caller.privileged) child.perms.entries.front().domid = caller.domid;
    if (*it == path) child.value = std::string(value);
    store.put(parent_path, std::move(parent));
    store.put(*it, std::move(child));
  }
  changes.push_back(Change{path, false, store.find(path)->perms, std::nullopt});
  return {};
}

// Every node of the subtree at `root`, parents before children; bounded by the store's size.
std::vector<std::string> subtree(NodeStore& store, const std::string& root) {
  std::vector<std::string> out{root};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const Node* n = store.find(out[i]);
    if (!n) continue;
    for (const auto& leaf : n->children) out.push_back(join_path(out[i], leaf));
  }
  return out;
}

}  // namespace

Result<const Node*> get_node(NodeStore& store, const Caller& caller, const std::string& path, unsigned need) {
  const Node* node = store.find(path);
  if (node && (access_for(node->perms, caller.domid, caller.privileged) & need) == need) return node;
  const int err = node ? EACCES : ENOENT;
  if (is_special(path)) return std::unexpected(err);
  return std::unexpected((ancestor_access(store, caller, path) & need) ? err : EACCES);
}

Result<void> write_node(NodeStore& store, const Caller& caller, const std::string& path, std::string_view value,
                        Changes& changes) {
  if (is_special(path)) return std::unexpected(EINVAL);
  if (auto ok = check_value(caller, value); !ok) return ok;
  auto node = get_node(store, caller, path, kAccessWrite);
  if (!node && node.error() != ENOENT) return std::unexpected(node.error());
  if (!node) return create_node(store, caller, path, value, changes);
  const std::size_t old_size = (*node)->value.size();
  const DomId owner = (*node)->perms.owner();
  if (auto ok = check_bytes(store, caller, owner, value.size() > old_size ? value.size() - old_size : 0); !ok)
    return ok;
  Node updated = **node;
  updated.value = std::string(value);
  changes.push_back(Change{path, false, updated.perms, std::nullopt});
  store.put(path, std::move(updated));
  return {};
}

Result<void> make_node(NodeStore& store, const Caller& caller, const std::string& path, Changes& changes) {
  if (is_special(path)) return std::unexpected(EINVAL);
  auto node = get_node(store, caller, path, kAccessWrite);
  if (node) return {};
  if (node.error() != ENOENT) return std::unexpected(node.error());
  return create_node(store, caller, path, {}, changes);
}

Result<void> remove_node(NodeStore& store, const Caller& caller, const std::string& path, Changes& changes) {
  if (is_special(path)) return std::unexpected(EINVAL);
  auto node = get_node(store, caller, path, kAccessWrite);
  if (!node) {
    if (node.error() == ENOENT && path != "/" && store.find(parent_of(path))) return {};
    return std::unexpected(node.error());
  }
  if (path == "/") return std::unexpected(EINVAL);
  const auto doomed = subtree(store, path);
  // Children first, like xenstored's post-order walk, while their perms are still visible.
  for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
    const Node* n = store.find(*it);
    if (!n) continue;
    changes.push_back(Change{*it, *it != path, n->perms, std::nullopt});
    store.erase(*it);
  }
  const std::string parent_path = parent_of(path);
  Node parent = *store.find(parent_path);
  std::erase(parent.children, std::string(basename_of(path)));
  store.put(parent_path, std::move(parent));
  return {};
}

Result<void> set_node_perms(NodeStore& store, const Caller& caller, const std::string& path, NodePerms perms,
                            Changes& changes) {
  if (perms.entries.empty()) return std::unexpected(EINVAL);
  if (!caller.privileged && perms.entries.size() > caller.quota->max_perms) return std::unexpected(ENOSPC);
  auto node = get_node(store, caller, path, kAccessWrite | kAccessOwner);
  if (!node) return std::unexpected(node.error());
  if (!caller.privileged && perms.owner() != (*node)->perms.owner()) return std::unexpected(EPERM);
  const std::size_t old_size = perms_bytes((*node)->perms), new_size = perms_bytes(perms);
  if (auto ok = check_bytes(store, caller, perms.owner(), new_size > old_size ? new_size - old_size : 0); !ok)
    return ok;
  Node updated = **node;
  NodePerms old = std::exchange(updated.perms, std::move(perms));
  changes.push_back(Change{path, false, updated.perms, std::move(old)});
  store.put(path, std::move(updated));
  return {};
}

}  // namespace kxen::xenstore
