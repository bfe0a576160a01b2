#include "blk/disk_options.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <utility>

#include <fmt/format.h>

namespace kxen::blk {
namespace {

constexpr std::string_view kKnownKeys = "vdev, readonly, discard, persistent, cache, queues, aio, fail-sectors";

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<bool> parse_on_off(std::string_view text) {
  if (text == "on") return true;
  if (text == "off") return false;
  return std::nullopt;
}

std::optional<DiskOptions::Cache> parse_cache(std::string_view text) {
  if (text == "writeback") return DiskOptions::Cache::writeback;
  if (text == "none") return DiskOptions::Cache::none;
  if (text == "unsafe") return DiskOptions::Cache::unsafe;
  return std::nullopt;
}

std::optional<DiskOptions::Aio> parse_aio(std::string_view text) {
  if (text == "io_uring") return DiskOptions::Aio::io_uring;
  if (text == "sync") return DiskOptions::Aio::sync;
  return std::nullopt;
}

// "START-END" or a single "SECTOR"; the range is inclusive and must not run backwards.
std::optional<SectorRange> parse_range(std::string_view text) {
  const auto dash = text.find('-');
  const auto first = parse_u64(text.substr(0, dash));
  const auto last = dash == std::string_view::npos ? first : parse_u64(text.substr(dash + 1));
  if (!first || !last || *last < *first) return std::nullopt;
  return SectorRange{*first, *last};
}

// Applies one `key[=value]` item; returns an error without the "disk PATH:" prefix.
std::expected<void, std::string> apply(DiskOptions& opts, std::string_view key,
                                       std::optional<std::string_view> value) {
  auto bad = [&](std::string_view expected) {
    return std::unexpected(fmt::format("{}={}: expected {}", key, value.value_or(""), expected));
  };
  if (key == "readonly") {
    const auto on = value ? parse_on_off(*value) : std::optional<bool>(true);
    if (!on) return bad("on or off (or plain readonly)");
    opts.readonly = *on;
    return {};
  }
  if (!value) return std::unexpected(fmt::format("{} needs a value ({}=...)", key, key));
  if (key == "vdev") {
    if (!xen_vdev_number(*value)) return bad("a Xen disk name xvda..xvdzz");
    opts.vdev = std::string(*value);
  } else if (key == "discard") {
    const auto on = parse_on_off(*value);
    if (!on) return bad("on or off");
    opts.discard = *on;
  } else if (key == "persistent") {
    const auto on = parse_on_off(*value);
    if (!on) return bad("on or off");
    opts.persistent = *on;
  } else if (key == "cache") {
    const auto cache = parse_cache(*value);
    if (!cache) return bad("writeback, none or unsafe");
    opts.cache = *cache;
  } else if (key == "aio") {
    const auto aio = parse_aio(*value);
    if (!aio) return bad("io_uring or sync");
    opts.aio = *aio;
  } else if (key == "queues") {
    const auto n = parse_u64(*value);
    if (!n || *n < 1 || *n > kMaxQueues) return bad(fmt::format("a number in 1..{}", kMaxQueues));
    opts.queues = static_cast<unsigned>(*n);
  } else if (key == "fail-sectors") {
    const auto range = parse_range(*value);
    if (!range) return bad("START-END in 512-byte sectors with START <= END");
    opts.fail_sectors.push_back(*range);
  } else {
    return std::unexpected(fmt::format("unknown option '{}' (known: {})", key, kKnownKeys));
  }
  return {};
}

// The options that may appear once.
constexpr std::array<std::string_view, 7> kSingle = {"vdev",  "readonly", "discard", "persistent",
                                                     "cache", "queues",   "aio"};

// Index of `key` in kSingle, or -1 for repeatable/unknown ones.

int single_key_index(std::string_view key) {
  for (std::size_t i = 0; i < kSingle.size(); ++i)
    if (kSingle[i] == key) return static_cast<int>(i);
  return -1;
}

}  // namespace

bool SectorRange::overlaps(std::uint64_t offset, std::uint64_t length) const {
  if (length == 0) return false;
  const std::uint64_t first_sector = offset / kSectorSize;
  const std::uint64_t end = length - 1 > UINT64_MAX - offset ? UINT64_MAX : offset + length - 1;
  const std::uint64_t last_sector = end / kSectorSize;
  return first_sector <= last && first <= last_sector;
}

std::expected<DiskOptions, std::string> parse_disk_option(std::string_view spec) {
  DiskOptions opts;
  const auto comma = spec.find(',');
  opts.path = std::string(spec.substr(0, comma));
  if (opts.path.empty()) return std::unexpected(fmt::format("disk '{}': the path is empty", spec));
  if (comma == std::string_view::npos) return opts;
  std::array<bool, kSingle.size()> seen{};
  for (std::string_view rest = spec.substr(comma + 1);;) {
    const auto next = rest.find(',');
    const std::string_view item = rest.substr(0, next);
    const auto eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::nullopt
                                                    : std::optional(item.substr(eq + 1));
    if (key.empty())
      return std::unexpected(fmt::format("disk {}: empty option in '{}'", opts.path, spec));
    const int once = single_key_index(key);
    if (once >= 0 && std::exchange(seen[static_cast<std::size_t>(once)], true))
      return std::unexpected(fmt::format("disk {}: {} given twice", opts.path, key));
    if (auto ok = apply(opts, key, value); !ok)
      return std::unexpected(fmt::format("disk {}: {}", opts.path, ok.error()));
    if (next == std::string_view::npos) return opts;
    rest = rest.substr(next + 1);
  }
}

std::optional<std::uint32_t> xen_vdev_number(std::string_view vdev) {
  if (!vdev.starts_with("xvd")) return std::nullopt;
  const std::string_view letters = vdev.substr(3);
  if (letters.empty() || letters.size() > 2) return std::nullopt;
  std::uint32_t value = 0;  // bijective base 26: a=1 .. z=26, aa=27
  for (const char c : letters) {
    if (c < 'a' || c > 'z') return std::nullopt;
    value = value * 26 + static_cast<std::uint32_t>(c - 'a' + 1);
  }
  const std::uint32_t disk = value - 1;
  if (disk < 16) return (202u << 8) | (disk << 4);
  return (1u << 28) | (disk << 8);
}

std::optional<std::string> xvd_name(unsigned index) {
  if (index < 26) return "xvd" + std::string(1, static_cast<char>('a' + index));
  if (index >= 26 + 26 * 26) return std::nullopt;
  const unsigned rest = index - 26;
  return "xvd" + std::string{static_cast<char>('a' + rest / 26), static_cast<char>('a' + rest % 26)};
}

std::string_view to_string(DiskOptions::Cache cache) {
  switch (cache) {
    case DiskOptions::Cache::writeback: return "writeback";
    case DiskOptions::Cache::none: return "none";
    case DiskOptions::Cache::unsafe: return "unsafe";
  }
  return "?";
}

std::string_view to_string(DiskOptions::Aio aio) {
  switch (aio) {
    case DiskOptions::Aio::io_uring: return "io_uring";
    case DiskOptions::Aio::sync: return "sync";
  }
  return "?";
}

}  // namespace kxen::blk
