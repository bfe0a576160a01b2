// __HYPERVISOR_multicall: runs a guest array of hypercalls in order, writing each result back.
#pragma once

#include <cstdint>
#include <functional>

#include "kxen/hypercall.hpp"

namespace kxen {

// One guest call cannot pin its vCPU thread for long: longer lists are refused with -EINVAL
// (Linux batches at most a few dozen entries).
inline constexpr std::uint64_t kMaxMulticallEntries = 1024;

using HypercallDispatch = std::function<HypercallOutcome(const HypercallRequest&, GuestVirtual&)>;

// args[0] = guest address of multicall_entry_t[args[1]] (the 32-bit layout for 32-bit callers).
// Nested multicalls get -EINVAL in their entry; a call that stops the vCPU ends the list.
HypercallOutcome run_multicall(const HypercallRequest& request, GuestVirtual& mem, const HypercallDispatch& dispatch);

}  // namespace kxen
