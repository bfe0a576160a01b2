#include "kvm/exit_stats.hpp"

#include <linux/kvm.h>

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "xen/hypercall/unknown_ops.hpp"
#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

namespace {
constexpr std::size_t kTop = 6;  // enough to show where the exits go, short enough for one line

std::string exit_name(std::uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_IO: return "io";
    case KVM_EXIT_HLT: return "hlt";
    case KVM_EXIT_MMIO: return "mmio";
    case KVM_EXIT_INTR: return "intr";
    case KVM_EXIT_XEN: return "xen";
    case KVM_EXIT_X86_RDMSR: return "rdmsr";
    case KVM_EXIT_X86_WRMSR: return "wrmsr";
    default: return fmt::format("reason{}", reason);
  }
}

// The largest counts first, "name count" each, the rest folded into "+N more".
template <typename Map, typename Name>
std::string top(const Map& counts, Name name) {
  std::vector<std::pair<std::uint64_t, std::string>> items;
  for (const auto& [key, count] : counts) items.emplace_back(count, name(key));
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kTop; ++i)
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", items[i].second, items[i].first);
  if (items.size() > kTop) out += fmt::format(", +{} more", items.size() - kTop);
  return out;
}

constexpr std::uint64_t kMaxNumber = 64;   // beyond every __HYPERVISOR_* number
constexpr std::uint64_t kMaxSubop = 64;    // beyond every sub-op number Linux uses
constexpr std::uint64_t kNoSubop = ~std::uint64_t{0};
constexpr std::uint64_t kOtherSubop = kNoSubop - 1;

// Hypercalls whose first argument selects an operation (the rest take a value or pointer).
bool takes_command(std::uint64_t nr) {
  switch (nr) {
    case __HYPERVISOR_memory_op:
    case __HYPERVISOR_xen_version:
    case __HYPERVISOR_console_io:
    case __HYPERVISOR_grant_table_op:
    case __HYPERVISOR_vm_assist:
    case __HYPERVISOR_vcpu_op:
    case __HYPERVISOR_sched_op:
    case __HYPERVISOR_event_channel_op:
    case __HYPERVISOR_physdev_op:
    case __HYPERVISOR_hvm_op: return true;
    default: return false;
  }
}

std::string hypercall_label(const std::pair<std::uint64_t, std::uint64_t>& key) {
  const auto name = hypercall_name(key.first);
  std::string label = key.first >= kMaxNumber ? "out-of-range" : name.empty() ? fmt::format("#{}", key.first) : std::string(name);
  if (key.second == kOtherSubop) return label + "/other";
  if (key.second != kNoSubop) return fmt::format("{}/{}", label, key.second);
  return label;
}

double seconds(ExitStats::Duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

void ExitStats::count_hypercall(std::uint64_t nr, std::uint64_t first_arg) {
  const std::uint64_t number = std::min(nr, kMaxNumber);
  const std::uint64_t subop = !takes_command(number) ? kNoSubop : first_arg < kMaxSubop ? first_arg : kOtherSubop;
  ++hypercalls_[{number, subop}];
}

void ExitStats::add(Phase phase, Duration time) {
  switch (phase) {
    case Phase::guest: guest_ += time; break;
    case Phase::handling: handling_ += time; break;
    case Phase::halted: halted_ += time; break;
  }
}

std::uint64_t ExitStats::exits() const {
  std::uint64_t total = 0;
  for (const auto& [reason, count] : exits_) total += count;
  return total;
}

std::vector<std::pair<std::string, std::uint64_t>> ExitStats::hypercall_counts() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& [key, count] : hypercalls_) out.emplace_back(hypercall_label(key), count);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

std::uint64_t ExitStats::hypercalls(std::uint64_t nr) const {
  std::uint64_t total = 0;
  for (const auto& [key, count] : hypercalls_)
    if (key.first == nr) total += count;
  return total;
}

ExitStats::Duration ExitStats::time_in(Phase phase) const {
  return phase == Phase::guest ? guest_ : phase == Phase::handling ? handling_ : halted_;
}

std::string ExitStats::summary() const {
  std::string line = fmt::format("{} exits; {:.3f} s in KVM_RUN, {:.3f} s handling exits, {:.3f} s halted in kxen",
                                 exits(), seconds(guest_), seconds(handling_), seconds(halted_));
  if (!exits_.empty()) line += "; by reason: " + top(exits_, exit_name);
  if (!hypercalls_.empty())
    line += "; hypercalls: " + top(hypercalls_, hypercall_label);
  if (continuations_ != 0) line += fmt::format("; {} hypercall continuations", continuations_);
  if (!ports_.empty())
    line += "; ports: " + top(ports_, [](std::uint16_t port) { return fmt::format("{:#x}", port); });
  return line;
}

}  // namespace kxen
