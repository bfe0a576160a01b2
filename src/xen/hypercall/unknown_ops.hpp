// Logs each unknown hypercall number / sub-op once, with a bound on how many it remembers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace kxen {

// Name of a hypercall number for logs ("sched_op"), or "" when Xen has none.
std::string_view hypercall_name(std::uint64_t nr);

// A guest can invent 2^64 numbers: remember at most kMaxKeys, then go quiet with one notice.
class UnknownOps final {
 public:
  static constexpr std::size_t kMaxKeys = 256;

  // Returns true (and logs) the first time this (nr, sub-op) pair is seen.
  bool note(std::uint64_t nr, std::optional<std::uint32_t> subop, std::uint32_t vcpu);
  std::size_t logged() const;

 private:
  struct Key {
    std::uint64_t nr;
    std::optional<std::uint32_t> subop;
    bool operator==(const Key&) const = default;
  };
  mutable std::mutex mutex_;
  std::vector<Key> seen_;
  bool overflow_reported_ = false;
};

}  // namespace kxen
