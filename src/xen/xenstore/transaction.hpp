// A XenStore transaction: an overlay over the committed tree that remembers the generation of
// every node it read or wrote, so commit fails with EAGAIN only when one of *those* nodes changed
// (per-node conflicts, like xenstored since 4.9; QEMU fails on any change to the whole tree).
//
// Everything it holds (reads, overlay, pending watch events) is counted against its limits. A
// request that crosses one dooms the transaction: the caller discard()s it at once, and from
// then on every request and the commit fail with ENOSPC before anything is recorded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "xen/xenstore/node_ops.hpp"
#include "xen/xenstore/tree.hpp"

namespace kxen::xenstore {

struct TransactionLimits {
  std::size_t nodes = 0;  // distinct nodes it may read or write
  std::size_t bytes = 0;  // memory its reads, overlay and pending changes may hold
};

// What a transaction holds, for tests and diagnostics.
struct TransactionUsage {
  std::size_t nodes = 0;    // nodes read or written
  std::size_t changes = 0;  // distinct paths watches will hear about at commit
  std::size_t bytes = 0;
};

class Transaction final : public NodeStore {
 public:
  Transaction(Tree& tree, TransactionLimits limits) : tree_(tree), limits_(limits) {}

  const Node* find(const std::string& path) override;
  void put(const std::string& path, Node node) override;
  void erase(const std::string& path) override;
  std::size_t owned_by(DomId domid) const override;
  std::size_t owned_bytes(DomId domid) const override;

  // A limit was crossed: every further request and the commit fail with ENOSPC.
  bool overflowed() const { return overflowed_; }
  // Frees everything recorded; called once a request overflowed the transaction.
  void discard();
  TransactionUsage usage() const;

  // Queues watch events for commit, one per path however often it changes (watches need only
  // the path, whether descendants fire, and the perms before and after the transaction).
  void record(const Changes& changes);

  // Validates every touched node against the tree, then applies the overlay. EAGAIN on a
  // conflict, ENOSPC when the caller's nodes would exceed its quota; the tree is unchanged then.
  Result<Changes> commit(const Caller& caller);

 private:
  struct Pending {
    std::size_t order = 0;
    bool exact = true;
    NodePerms before;  // as the node was before this transaction touched it
    NodePerms after;
  };
  void remember(const std::string& path);
  void charge(std::size_t add, std::size_t release);
  Result<void> check_owner_quota(const Caller& caller) const;

  Tree& tree_;
  TransactionLimits limits_;
  bool overflowed_ = false;
  std::size_t bytes_ = 0;
  std::size_t next_order_ = 0;
  std::map<std::string, std::uint64_t> base_;               // generation seen at first touch
  std::map<std::string, std::optional<Node>> overlay_;      // nullopt: removed in this transaction
  std::unordered_map<DomId, long> owned_delta_;
  std::unordered_map<DomId, long> owned_bytes_delta_;
  std::map<std::string, Pending> changes_;
};

}  // namespace kxen::xenstore
