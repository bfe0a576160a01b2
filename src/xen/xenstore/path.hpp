// XenStore path syntax: validation, canonical form and the parent/child relations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace kxen::xenstore {

using DomId = std::uint16_t;  // domid_t
template <class T>
using Result = std::expected<T, int>;  // error: a positive errno from the xsd_errors list

// "/local/domain/<domid>": the home that relative paths of that domain are resolved against.
std::string domain_path(DomId domid);

// Absolute canonical path for `path` as sent by a connection of domain `home`: relative paths are
// joined to the home, `@name` is accepted only when allow_special. EINVAL on bad syntax or length.
Result<std::string> canonical_path(std::string_view path, DomId home, bool allow_special);

bool is_special(std::string_view path);
// Parent of an absolute path other than "/": "/a/b" -> "/a", "/a" -> "/".
std::string parent_of(std::string_view path);
std::string_view basename_of(std::string_view path);
std::string join_path(std::string_view parent, std::string_view leaf);
// True when `child` is `parent` itself or lies below it (xenstored's is_child).
bool is_child_or_self(std::string_view child, std::string_view parent);
// Number of components: "/" -> 0, "/a/b" -> 2.
std::size_t path_depth(std::string_view path);

}  // namespace kxen::xenstore
