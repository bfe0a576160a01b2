#include "xen/xenstore/path.hpp"

#include <cerrno>
#include <cstdint>
#include <xen/io/xs_wire.h>

#include <algorithm>
#include <fmt/format.h>

namespace kxen::xenstore {

namespace {

bool valid_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '/' || c == '_' || c == '@';
}

bool valid_shape(std::string_view p) {
  if (p == "/") return true;
  return p.size() > 1 && p.front() == '/' && p.back() != '/' && p.find("//") == std::string_view::npos;
}

// Length of the part below "/local/domain/<id>/", which xenstored limits to the relative maximum.
std::size_t local_part_length(std::string_view p) {
  constexpr std::string_view prefix = "/local/domain/";
  if (!p.starts_with(prefix)) return p.size();
  const auto slash = p.find('/', prefix.size());
  return slash == std::string_view::npos ? p.size() : p.size() - slash - 1;
}

}  // namespace

std::string domain_path(DomId domid) { return fmt::format("/local/domain/{}", domid); }

bool is_special(std::string_view path) { return !path.empty() && path.front() == '@'; }

Result<std::string> canonical_path(std::string_view path, DomId home, bool allow_special) {
  if (path.empty() || !std::all_of(path.begin(), path.end(), valid_char)) return std::unexpected(EINVAL);
  if (is_special(path)) {
    if (!allow_special || path.size() > XENSTORE_REL_PATH_MAX) return std::unexpected(EINVAL);
    return std::string(path);
  }
  const bool relative = path.front() != '/';
  if (relative && path.size() > XENSTORE_REL_PATH_MAX) return std::unexpected(EINVAL);
  std::string abs = relative ? join_path(domain_path(home), path) : std::string(path);
  if (!valid_shape(abs) || abs.size() > XENSTORE_ABS_PATH_MAX || local_part_length(abs) > XENSTORE_REL_PATH_MAX)
    return std::unexpected(EINVAL);
  return abs;
}

std::string parent_of(std::string_view path) {
  const auto slash = path.rfind('/');
  if (slash == 0 || slash == std::string_view::npos) return "/";
  return std::string(path.substr(0, slash));
}

std::string_view basename_of(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string join_path(std::string_view parent, std::string_view leaf) {
  if (parent == "/") return fmt::format("/{}", leaf);
  return fmt::format("{}/{}", parent, leaf);
}

bool is_child_or_self(std::string_view child, std::string_view parent) {
  if (parent == "/") return !is_special(child);
  if (!child.starts_with(parent)) return false;
  return child.size() == parent.size() || child[parent.size()] == '/';
}

std::size_t path_depth(std::string_view path) {
  if (path == "/") return 0;
  return static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

}  // namespace kxen::xenstore
