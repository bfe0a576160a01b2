// Node permissions in xenstored's model: an owner with full access, a default for everyone else
// and per-domain overrides, exchanged as "n0" "r1" "w2" "b3" strings.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xen/xenstore/path.hpp"

namespace kxen::xenstore {

// Access bits (xenstore_lib's XS_PERM_*, which libxen-dev does not ship in its public headers).
enum Access : unsigned { kAccessNone = 0, kAccessRead = 1, kAccessWrite = 2, kAccessOwner = 4 };

struct PermEntry {
  DomId domid = 0;
  unsigned access = kAccessNone;  // kAccessRead | kAccessWrite
  bool operator==(const PermEntry&) const = default;
};

// entries[0] names the owner and the access every domain without its own entry gets.
struct NodePerms {
  std::vector<PermEntry> entries{PermEntry{}};
  DomId owner() const { return entries.front().domid; }
  bool operator==(const NodePerms&) const = default;
};

// Parses one or more perm strings; EINVAL when any is malformed or the list is empty.
Result<NodePerms> parse_perms(std::span<const std::string_view> strings);
Result<NodePerms> parse_perms(std::initializer_list<std::string_view> strings);
std::string format_perm(const PermEntry& entry);
std::vector<std::string> format_perms(const NodePerms& perms);

// What a domain may do with a node: privileged callers and the owner get everything.
unsigned access_for(const NodePerms& perms, DomId domid, bool privileged);

}  // namespace kxen::xenstore
