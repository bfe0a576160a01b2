#include "xen/xenstore/perms.hpp"

#include <cerrno>
#include <charconv>

#include <fmt/format.h>

namespace kxen::xenstore {

namespace {

Result<PermEntry> parse_one(std::string_view s) {
  if (s.size() < 2) return std::unexpected(EINVAL);
  PermEntry entry;
  switch (s.front()) {
    case 'n': entry.access = kAccessNone; break;
    case 'r': entry.access = kAccessRead; break;
    case 'w': entry.access = kAccessWrite; break;
    case 'b': entry.access = kAccessRead | kAccessWrite; break;
    default: return std::unexpected(EINVAL);
  }
  unsigned value = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data() + 1, end, value);
  if (ec != std::errc() || ptr != end || value > 0xffff) return std::unexpected(EINVAL);
  entry.domid = static_cast<DomId>(value);
  return entry;
}

char access_letter(unsigned access) {
  switch (access & (kAccessRead | kAccessWrite)) {
    case kAccessRead: return 'r';
    case kAccessWrite: return 'w';
    case kAccessRead | kAccessWrite: return 'b';
    default: return 'n';
  }
}

}  // namespace

Result<NodePerms> parse_perms(std::span<const std::string_view> strings) {
  if (strings.empty()) return std::unexpected(EINVAL);
  NodePerms perms;
  perms.entries.clear();
  for (auto s : strings) {
    auto entry = parse_one(s);
    if (!entry) return std::unexpected(entry.error());
    perms.entries.push_back(*entry);
  }
  return perms;
}

Result<NodePerms> parse_perms(std::initializer_list<std::string_view> strings) {
  return parse_perms(std::span<const std::string_view>(strings.begin(), strings.size()));
}

std::string format_perm(const PermEntry& entry) { return fmt::format("{}{}", access_letter(entry.access), entry.domid); }

std::vector<std::string> format_perms(const NodePerms& perms) {
  std::vector<std::string> out;
  for (const auto& e : perms.entries) out.push_back(format_perm(e));
  return out;
}

unsigned access_for(const NodePerms& perms, DomId domid, bool privileged) {
  if (privileged || perms.owner() == domid) return kAccessRead | kAccessWrite | kAccessOwner;
  for (std::size_t i = 1; i < perms.entries.size(); ++i)
    if (perms.entries[i].domid == domid) return perms.entries[i].access;
  return perms.entries.front().access;
}

}  // namespace kxen::xenstore
