// __HYPERVISOR_multicall: runs a guest array of hypercalls in order, writing each result back.
#pragma once

#include <cstdint>
#include <functional>

#include "kxen/hypercall.hpp"

namespace kxen {

// Entries run per invocation before the multicall continues itself: each entry may do a whole
// budget of work of its own, so a sixteenth of the budget's count (Linux batches up to 32).
inline constexpr std::uint32_t kMulticallEntriesPerInvocation = kHypercallWorkBudget / 16;

using HypercallDispatch = std::function<HypercallOutcome(const HypercallRequest&, GuestVirtual&)>;

// args[0] = guest address of multicall_entry_t[args[1]] (the 32-bit layout for 32-bit callers).
// Nested multicalls get -EINVAL in their entry; a call that stops the vCPU ends the list.
// As Xen's: after kMulticallEntriesPerInvocation entries, or at an entry that continues
// itself (its new arguments written into the entry), the multicall continues at that point.
// A block requested before a continuation is dropped: a spurious wake-up, which SCHEDOP_block
// callers must already handle.
HypercallOutcome run_multicall(const HypercallRequest& request, GuestVirtual& mem, const HypercallDispatch& dispatch);

}  // namespace kxen
