// Reading a frontend's nodes as a backend must: every value is hostile text, parsed strictly.
#pragma once

#include <charconv>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "xen/xenstore/store.hpp"

namespace kxen::xenbus {

// A decimal node no larger than `max`: nullopt when absent, an error line when it is junk.
inline std::expected<std::optional<std::uint64_t>, std::string> read_number(xenstore::XenStore& store,
                                                                            const std::string& path,
                                                                            std::uint64_t max) {
  const auto text = store.read(path);
  if (!text) return std::optional<std::uint64_t>{};
  std::uint64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc{} || ptr != end || text->empty() || value > max)
    return std::unexpected(fmt::format("{} is '{:.20}', not a number up to {}", path, *text, max));
  return value;
}

// Like read_number, but the node must be there.
inline std::expected<std::uint64_t, std::string> require_number(xenstore::XenStore& store, const std::string& path,
                                                                std::uint64_t max) {
  auto value = read_number(store, path, max);
  if (!value) return std::unexpected(value.error());
  if (!*value) return std::unexpected(fmt::format("{} is missing", path));
  return **value;
}

}  // namespace kxen::xenbus
