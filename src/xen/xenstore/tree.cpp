#include "xen/xenstore/tree.hpp"

namespace kxen::xenstore {

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
  if (!inserted) add_owner(it->second.perms.owner(), -1);
  add_owner(node.perms.owner(), +1);
  it->second = std::move(node);
}

void Tree::erase(const std::string& path) {
  auto it = nodes_.find(path);
  if (it == nodes_.end()) return;
  add_owner(it->second.perms.owner(), -1);
  nodes_.erase(it);
}

std::size_t Tree::owned_by(DomId domid) const {
  auto it = owned_.find(domid);
  return it == owned_.end() ? 0 : it->second;
}

std::uint64_t Tree::generation_of(const std::string& path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? kNoGeneration : it->second.generation;
}

void Tree::add_owner(DomId domid, long delta) {
  auto& count = owned_[domid];
  count = static_cast<std::size_t>(static_cast<long>(count) + delta);
  if (count == 0) owned_.erase(domid);
}

}  // namespace kxen::xenstore
