#include "xen/hypercall/multicall.hpp"

#include <array>

#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

namespace {

static_assert(sizeof(multicall_entry_t) == 64, "the 64-bit layout: op, result, args[6] as xen_ulong_t");
// A 32-bit caller's multicall_entry_t: the same fields with a 32-bit xen_ulong_t.
using CompatMulticallEntry = std::array<std::uint32_t, 8>;

struct Entry {
  std::uint64_t op = 0;
  std::array<std::uint64_t, 6> args{};
};

std::optional<Entry> read_entry(GuestVirtual& mem, std::uint64_t gva, bool long_mode) {
  Entry entry;
  if (long_mode) {
    auto raw = mem.read_obj<multicall_entry_t>(gva);
    if (!raw) return std::nullopt;
    entry.op = raw->op;
    for (std::size_t i = 0; i < entry.args.size(); ++i) entry.args[i] = raw->args[i];
    return entry;
  }
  auto raw = mem.read_obj<CompatMulticallEntry>(gva);
  if (!raw) return std::nullopt;
  entry.op = (*raw)[0];
  for (std::size_t i = 0; i < entry.args.size(); ++i) entry.args[i] = (*raw)[i + 2];
  return entry;
}

bool write_result(GuestVirtual& mem, std::uint64_t gva, bool long_mode, std::int64_t result) {
  if (long_mode) return mem.write_obj(gva + offsetof(multicall_entry_t, result), static_cast<std::uint64_t>(result));
  return mem.write_obj(gva + sizeof(std::uint32_t), static_cast<std::uint32_t>(result));
}

}  // namespace

HypercallOutcome run_multicall(const HypercallRequest& request, GuestVirtual& mem, const HypercallDispatch& dispatch) {
  const std::uint64_t list = request.args[0];
  const std::uint64_t count = request.args[1];
  if (count > kMaxMulticallEntries) return {-XEN_EINVAL};
  const std::uint64_t stride = request.long_mode ? sizeof(multicall_entry_t) : sizeof(CompatMulticallEntry);
  VcpuAction action = VcpuAction::resume;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t gva = list + i * stride;
    auto entry = read_entry(mem, gva, request.long_mode);
    if (!entry) return {-XEN_EFAULT, action};
    std::int64_t result = -XEN_EINVAL;  // a multicall inside a multicall
    if (entry->op != __HYPERVISOR_multicall) {
      HypercallRequest call = request;
      call.nr = entry->op;
      call.args = entry->args;
      const HypercallOutcome outcome = dispatch(call, mem);
      result = outcome.result;
      if (outcome.action != VcpuAction::resume) action = outcome.action;
    }
    if (!write_result(mem, gva, request.long_mode, result)) return {-XEN_EFAULT, action};
    if (action == VcpuAction::stop) break;  // e.g. SCHEDOP_shutdown: nothing after it runs
  }
  return {0, action};
}

}  // namespace kxen
