#include "xen/xenstore/transaction.hpp"

#include <cerrno>
#include <cstddef>

namespace kxen::xenstore {

void Transaction::remember(const std::string& path) {
  if (base_.contains(path)) return;
  if (base_.size() >= max_nodes_) {
    overflowed_ = true;  // not recorded: the commit must fail rather than miss a conflict
    return;
  }
  base_.emplace(path, tree_.generation_of(path));
}

const Node* Transaction::find(const std::string& path) {
  if (auto it = overlay_.find(path); it != overlay_.end()) return it->second ? &*it->second : nullptr;
  remember(path);
  return tree_.find(path);
}

void Transaction::put(const std::string& path, Node node) {
  if (const Node* old = find(path)) owned_delta_[old->perms.owner()] -= 1;
  owned_delta_[node.perms.owner()] += 1;
  overlay_[path] = std::move(node);
}

void Transaction::erase(const std::string& path) {
  if (const Node* old = find(path)) {
    owned_delta_[old->perms.owner()] -= 1;
    overlay_[path] = std::nullopt;
  }
}

std::size_t Transaction::owned_by(DomId domid) const {
  long count = static_cast<long>(tree_.owned_by(domid));
  if (auto it = owned_delta_.find(domid); it != owned_delta_.end()) count += it->second;
  return count < 0 ? 0 : static_cast<std::size_t>(count);
}

Result<Changes> Transaction::commit(const Caller& caller) {
  if (overflowed_) return std::unexpected(ENOSPC);
  for (const auto& [path, generation] : base_)
    if (tree_.generation_of(path) != generation) return std::unexpected(EAGAIN);
  if (!caller.privileged) {
    auto it = owned_delta_.find(caller.domid);
    if (it != owned_delta_.end() && it->second > 0 && owned_by(caller.domid) > caller.quota->max_nodes)
      return std::unexpected(ENOSPC);
  }
  for (auto& [path, node] : overlay_) {
    if (node)
      tree_.put(path, std::move(*node));
    else
      tree_.erase(path);
  }
  overlay_.clear();
  return std::move(changes_);
}

}  // namespace kxen::xenstore
