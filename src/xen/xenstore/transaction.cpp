#include "xen/xenstore/transaction.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <vector>

namespace kxen::xenstore {

namespace {

constexpr std::size_t kEntryOverhead = 64;  // a map node and its bookkeeping

std::size_t perms_bytes(const NodePerms& perms) { return perms.entries.size() * sizeof(PermEntry); }

// Memory an overlay entry holds, children names included (a copied directory costs its list).
std::size_t overlay_bytes(const std::string& path, const std::optional<Node>& node) {
  std::size_t bytes = kEntryOverhead + path.size();
  if (!node) return bytes;
  bytes += node->value.size() + perms_bytes(node->perms);
  for (const auto& child : node->children) bytes += sizeof(std::string) + child.size();
  return bytes;
}

std::size_t change_bytes(const std::string& path, const NodePerms& before, const NodePerms& after) {
  return kEntryOverhead + path.size() + perms_bytes(before) + perms_bytes(after);
}

long to_long(std::size_t n) { return static_cast<long>(n); }

}  // namespace

void Transaction::charge(std::size_t add, std::size_t release) {
  bytes_ = bytes_ + add - release;
  if (bytes_ > limits_.bytes) overflowed_ = true;
}

void Transaction::remember(const std::string& path) {
  if (base_.contains(path)) return;
  if (base_.size() >= limits_.nodes) {
    overflowed_ = true;  // not recorded: the commit must fail rather than miss a conflict
    return;
  }
  base_.emplace(path, tree_.generation_of(path));
  charge(kEntryOverhead + path.size(), 0);
}

const Node* Transaction::find(const std::string& path) {
  if (auto it = overlay_.find(path); it != overlay_.end()) return it->second ? &*it->second : nullptr;
  remember(path);
  return tree_.find(path);
}

void Transaction::put(const std::string& path, Node node) {
  if (const Node* old = find(path)) {
    owned_delta_[old->perms.owner()] -= 1;
    owned_bytes_delta_[old->perms.owner()] -= to_long(node_bytes(path, *old));
  }
  owned_delta_[node.perms.owner()] += 1;
  owned_bytes_delta_[node.perms.owner()] += to_long(node_bytes(path, node));
  auto [it, inserted] = overlay_.try_emplace(path);
  const std::size_t released = inserted ? 0 : overlay_bytes(path, it->second);
  it->second = std::move(node);
  charge(overlay_bytes(path, it->second), released);
}

void Transaction::erase(const std::string& path) {
  const Node* old = find(path);
  if (!old) return;
  owned_delta_[old->perms.owner()] -= 1;
  owned_bytes_delta_[old->perms.owner()] -= to_long(node_bytes(path, *old));
  auto [it, inserted] = overlay_.try_emplace(path);
  const std::size_t released = inserted ? 0 : overlay_bytes(path, it->second);
  it->second = std::nullopt;
  charge(overlay_bytes(path, it->second), released);
}

std::size_t Transaction::owned_by(DomId domid) const {
  long count = to_long(tree_.owned_by(domid));
  if (auto it = owned_delta_.find(domid); it != owned_delta_.end()) count += it->second;
  return count < 0 ? 0 : static_cast<std::size_t>(count);
}

std::size_t Transaction::owned_bytes(DomId domid) const {
  long bytes = to_long(tree_.owned_bytes(domid));
  if (auto it = owned_bytes_delta_.find(domid); it != owned_bytes_delta_.end()) bytes += it->second;
  return bytes < 0 ? 0 : static_cast<std::size_t>(bytes);
}

void Transaction::discard() {
  base_.clear();
  overlay_.clear();
  owned_delta_.clear();
  owned_bytes_delta_.clear();
  changes_.clear();
  bytes_ = 0;
}

TransactionUsage Transaction::usage() const { return TransactionUsage{base_.size(), changes_.size(), bytes_}; }

void Transaction::record(const Changes& changes) {
  for (const auto& change : changes) {
    auto [it, inserted] = changes_.try_emplace(change.path);
    Pending& p = it->second;
    const std::size_t released = inserted ? 0 : change_bytes(change.path, p.before, p.after);
    if (inserted) {
      p.order = next_order_++;
      p.exact = change.exact;
      p.before = change.old_perms.value_or(change.perms);
    }
    p.exact = p.exact && change.exact;  // once any change fires ancestors' watches, the merged one does
    p.after = change.perms;
    charge(change_bytes(change.path, p.before, p.after), released);
  }
}

Result<void> Transaction::check_owner_quota(const Caller& caller) const {
  if (caller.privileged) return {};
  auto grew = [&](const std::unordered_map<DomId, long>& delta) {
    auto it = delta.find(caller.domid);
    return it != delta.end() && it->second > 0;
  };
  if (grew(owned_delta_) && owned_by(caller.domid) > caller.quota->max_nodes) return std::unexpected(ENOSPC);
  if (grew(owned_bytes_delta_) && owned_bytes(caller.domid) > caller.quota->max_domain_bytes)
    return std::unexpected(ENOSPC);
  return {};
}

Result<Changes> Transaction::commit(const Caller& caller) {
  if (overflowed_) return std::unexpected(ENOSPC);
  for (const auto& [path, generation] : base_)
    if (tree_.generation_of(path) != generation) return std::unexpected(EAGAIN);
  if (auto ok = check_owner_quota(caller); !ok) return std::unexpected(ok.error());
  for (auto& [path, node] : overlay_) {
    if (node)
      tree_.put(path, std::move(*node));
    else
      tree_.erase(path);
  }
  overlay_.clear();
  std::vector<std::pair<std::size_t, Change>> ordered;
  ordered.reserve(changes_.size());
  for (auto& [path, p] : changes_) {
    std::optional<NodePerms> old;
    if (p.before != p.after) old = std::move(p.before);
    ordered.emplace_back(p.order, Change{path, p.exact, std::move(p.after), std::move(old)});
  }
  changes_.clear();
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Changes out;
  out.reserve(ordered.size());
  for (auto& [order, change] : ordered) out.push_back(std::move(change));
  return out;
}

}  // namespace kxen::xenstore
