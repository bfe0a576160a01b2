// What brought one vCPU out to kxen and where its time went, summarised when it stops: exits are
// what a (nested) KVM pays for, so this is the first place to look when a guest is slow.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kxen {

// Owned by one vCPU thread: no locking. Keys are bounded so a guest cannot make it grow without end.
class ExitStats {
 public:
  enum class Phase { guest, handling, halted };
  using Duration = std::chrono::nanoseconds;

  void count_exit(std::uint32_t reason) { ++exits_[reason]; }
  // first_arg is the sub-op for the multiplexed hypercalls; guest values fold into bounded buckets.
  void count_hypercall(std::uint64_t nr, std::uint64_t first_arg);
  void count_port(std::uint16_t port) { ++ports_[port]; }
  // A hypercall that did its work budget and continues itself (re-issued by the guest).
  void count_continuation() { ++continuations_; }
  void add(Phase phase, Duration time);

  std::uint64_t exits() const;
  std::uint64_t hypercalls(std::uint64_t nr) const;
  Duration time_in(Phase phase) const;
  std::uint64_t continuations() const { return continuations_; }
  // Every hypercall (and sub-op) seen, labelled ("event_channel_op/4"), most frequent first.
  std::vector<std::pair<std::string, std::uint64_t>> hypercall_counts() const;
  // One line: totals, time split, and the most frequent exit reasons, hypercalls and ports.
  std::string summary() const;

 private:
  std::map<std::uint32_t, std::uint64_t> exits_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> hypercalls_;
  std::map<std::uint16_t, std::uint64_t> ports_;
  std::uint64_t continuations_ = 0;
  Duration guest_{}, handling_{}, halted_{};
};

}  // namespace kxen
