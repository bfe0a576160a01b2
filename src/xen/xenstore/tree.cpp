#include "xen/xenstore/tree.hpp"

namespace kxen::xenstore {

namespace {
constexpr std::size_t kNodeOverhead = 64;  // map node, vectors and generation: what a node costs empty
}  // namespace

std::size_t node_bytes(std::string_view path, const Node& node) {
  return kNodeOverhead + 2 * path.size() + node.value.size() + node.perms.entries.size() * sizeof(PermEntry);
}

Tree::Tree() {
  auto dir = [](std::vector<std::string> children) {
    Node n;
    n.children = std::move(children);
    return n;
  };
  put("/", dir({"local", "tool", "vm"}));
  put("/local", dir({"domain"}));
  put("/local/domain", dir({}));
  put("/tool", dir({}));
  put("/vm", dir({}));
  put("@introduceDomain", dir({}));
  put("@releaseDomain", dir({}));
}

const Node* Tree::find(const std::string& path) {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

void Tree::put(const std::string& path, Node node) {
  node.generation = ++last_generation_;
  auto [it, inserted] = nodes_.try_emplace(path);
  if (!inserted) add_owner(it->second.perms.owner(), path, it->second, false);
  add_owner(node.perms.owner(), path, node, true);
  it->second = std::move(node);
}

void Tree::erase(const std::string& path) {
  auto it = nodes_.find(path);
  if (it == nodes_.end()) return;
  add_owner(it->second.perms.owner(), path, it->second, false);
  nodes_.erase(it);
}

std::size_t Tree::owned_by(DomId domid) const {
  auto it = owned_.find(domid);
  return it == owned_.end() ? 0 : it->second.nodes;
}

std::size_t Tree::owned_bytes(DomId domid) const {
  auto it = owned_.find(domid);
  return it == owned_.end() ? 0 : it->second.bytes;
}

std::uint64_t Tree::generation_of(const std::string& path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? kNoGeneration : it->second.generation;
}

void Tree::add_owner(DomId domid, const std::string& path, const Node& node, bool add) {
  auto& owned = owned_[domid];
  const std::size_t bytes = node_bytes(path, node);
  if (add) {
    owned.nodes += 1;
    owned.bytes += bytes;
  } else {
    owned.nodes -= 1;
    owned.bytes -= bytes;
  }
  if (owned.nodes == 0) owned_.erase(domid);
}

}  // namespace kxen::xenstore
