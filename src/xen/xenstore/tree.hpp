// The committed XenStore tree: a flat map from absolute path to node, with per-node generation
// counters (for per-node transaction conflicts) and per-domain ownership counts (for quotas).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xen/xenstore/path.hpp"
#include "xen/xenstore/perms.hpp"

namespace kxen::xenstore {

inline constexpr std::uint64_t kNoGeneration = ~std::uint64_t{0};

struct Node {
  std::string value;
  std::vector<std::string> children;  // leaf names, in creation order like xenstored
  NodePerms perms;
  std::uint64_t generation = 0;       // bumped on every change to value, perms or children
};

// Bytes a node costs its owner: the path twice (map key and the name in its parent's list),
// the value, the perms and a fixed overhead. Children are charged to their own owners.
std::size_t node_bytes(std::string_view path, const Node& node);

// What node operations run against: the committed tree or a transaction's overlay of it.
class NodeStore {
 public:
  virtual ~NodeStore() = default;
  // The node at `path` or nullptr; the pointer is valid until the next put/erase.
  virtual const Node* find(const std::string& path) = 0;
  virtual void put(const std::string& path, Node node) = 0;
  virtual void erase(const std::string& path) = 0;
  // Nodes whose owner is `domid`, as this view sees them, and their node_bytes().
  virtual std::size_t owned_by(DomId domid) const = 0;
  virtual std::size_t owned_bytes(DomId domid) const = 0;
};

class Tree final : public NodeStore {
 public:
  // Creates "/", "/local", "/local/domain", "/tool", "/vm" and the special "@introduceDomain" and
  // "@releaseDomain" nodes, all owned by dom0 with no access for others ("n0").
  Tree();

  const Node* find(const std::string& path) override;
  void put(const std::string& path, Node node) override;
  void erase(const std::string& path) override;
  std::size_t owned_by(DomId domid) const override;
  std::size_t owned_bytes(DomId domid) const override;

  std::uint64_t generation_of(const std::string& path) const;
  std::size_t size() const { return nodes_.size(); }

 private:
  struct Owned {
    std::size_t nodes = 0;
    std::size_t bytes = 0;
  };
  void add_owner(DomId domid, const std::string& path, const Node& node, bool add);

  std::map<std::string, Node> nodes_;
  std::unordered_map<DomId, Owned> owned_;
  std::uint64_t last_generation_ = 0;
};

}  // namespace kxen::xenstore
