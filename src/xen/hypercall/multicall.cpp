#include "xen/hypercall/multicall.hpp"

#include <algorithm>
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

// An entry's continuation: its arguments become the ones its call continues with (Xen's
// xlat_multicall_entry + copy back).
bool write_args(GuestVirtual& mem, std::uint64_t gva, bool long_mode, const std::array<std::uint64_t, 6>& args) {
  if (long_mode) return mem.write_obj(gva + offsetof(multicall_entry_t, args), args);
  std::array<std::uint32_t, 6> compat{};
  for (std::size_t i = 0; i < args.size(); ++i) compat[i] = static_cast<std::uint32_t>(args[i]);
  return mem.write_obj(gva + 2 * sizeof(std::uint32_t), compat);
}

// The multicall again, from `list` with `count` entries left.
HypercallOutcome resume_at(const HypercallRequest& request, std::uint64_t list, std::uint32_t count) {
  auto args = request.args;
  args[0] = request.long_mode ? list : list & 0xffffffffu;  // a 32-bit pointer wraps as its register does
  args[1] = count;
  return continue_with(args);
}

}  // namespace

HypercallOutcome run_multicall(const HypercallRequest& request, GuestVirtual& mem, const HypercallDispatch& dispatch) {
  const std::uint64_t list = request.args[0];
  const auto count = static_cast<std::uint32_t>(request.args[1]);  // Xen: uint32_t nr_calls
  const std::uint64_t stride = request.long_mode ? sizeof(multicall_entry_t) : sizeof(CompatMulticallEntry);
  const std::uint32_t batch = std::min(count, kMulticallEntriesPerInvocation);
  VcpuAction action = VcpuAction::resume;
  for (std::uint32_t i = 0; i < batch; ++i) {
    const std::uint64_t gva = list + i * stride;
    auto entry = read_entry(mem, gva, request.long_mode);
    if (!entry) return {-XEN_EFAULT, action};
    HypercallOutcome outcome{-XEN_EINVAL};  // a multicall inside a multicall
    if (entry->op != __HYPERVISOR_multicall) {
      HypercallRequest call = request;
      call.nr = entry->op;
      call.args = entry->args;
      outcome = dispatch(call, mem);
    }
    if (outcome.action == VcpuAction::restart) {
      if (!write_args(mem, gva, request.long_mode, outcome.restart_args)) return {-XEN_EFAULT, action};
      return resume_at(request, gva, count - i);
    }
    if (outcome.action != VcpuAction::resume) action = outcome.action;
    if (!write_result(mem, gva, request.long_mode, outcome.result)) return {-XEN_EFAULT, action};
    if (action == VcpuAction::stop) return {0, action};  // e.g. SCHEDOP_shutdown: nothing after it runs
  }
  if (batch == count) return {0, action};
  return resume_at(request, list + batch * stride, count - batch);
}

}  // namespace kxen
