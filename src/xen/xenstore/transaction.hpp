// A XenStore transaction: an overlay over the committed tree that remembers the generation of
// every node it read or wrote, so commit fails with EAGAIN only when one of *those* nodes changed
// (per-node conflicts, like xenstored since 4.9; QEMU fails on any change to the whole tree).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "xen/xenstore/node_ops.hpp"
#include "xen/xenstore/tree.hpp"

namespace kxen::xenstore {

class Transaction final : public NodeStore {
 public:
  // `max_nodes` bounds the nodes one transaction may touch (memory a guest can pin).
  Transaction(Tree& tree, std::size_t max_nodes) : tree_(tree), max_nodes_(max_nodes) {}

  const Node* find(const std::string& path) override;
  void put(const std::string& path, Node node) override;
  void erase(const std::string& path) override;
  std::size_t owned_by(DomId domid) const override;

  // Touched more than max_nodes: every further request and the commit fail with ENOSPC.
  bool overflowed() const { return overflowed_; }

  // Watch events queued until commit.
  Changes& changes() { return changes_; }

  // Validates every touched node against the tree, then applies the overlay. EAGAIN on a
  // conflict, ENOSPC when the caller's nodes would exceed its quota; the tree is unchanged then.
  Result<Changes> commit(const Caller& caller);

 private:
  void remember(const std::string& path);

  Tree& tree_;
  std::size_t max_nodes_;
  bool overflowed_ = false;
  std::map<std::string, std::uint64_t> base_;               // generation seen at first touch
  std::map<std::string, std::optional<Node>> overlay_;      // nullopt: removed in this transaction
  std::unordered_map<DomId, long> owned_delta_;
  Changes changes_;
};

}  // namespace kxen::xenstore
