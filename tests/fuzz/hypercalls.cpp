// The hypercall dispatcher with every handler XenPlatform registers, driven by fuzzed registers,
// guest memory and page tables. Each input: flags (KVM acceleration, evtchn ABI), a paging mode
// (flat, 4-level tables built by the harness, or 2-level/PAE/5-level/raw control registers
// whose tables the input writes), then a script of memory writes, hypercalls and clock steps.
// A VcpuAction::restart is re-issued with its restart_args, as the vCPU loop does, up to a bound.
#include "fuzz_platform.hpp"  // first: it pins the Xen interface version

#include <cstdint>

using namespace kxen;
using namespace kxen::fuzz;

namespace {

constexpr int kMaxOps = 64;
// Continuations of one call followed (Xen re-executes them too): enough to reach every
// continuation path; more only makes inputs slow (a huge multicall: 256 entries each time).
constexpr int kMaxRestarts = 64;

// One argument register: a small number, a pointer into the scratch area, or raw bits.
std::uint64_t argument(FuzzInput& in, const PlatformWorld& w) {
  switch (in.u8() % 4) {
    case 0: return in.u8();
    case 1: return w.pointer(in.u16() % (kRamTop / 2 - kArg));
    case 2: return in.u32();
    default: return in.u64();
  }
}

void hypercall(FuzzInput& in, PlatformWorld& w) {
  HypercallRequest req;
  const std::uint8_t how = in.u8();
  req.nr = how & 0x3f;
  req.long_mode = !(how & 0x40);
  req.vcpu = (how >> 7) % kVcpus;
  for (auto& a : req.args) a = argument(in, w);
  for (int i = 0; i < kMaxRestarts; ++i) {
    const HypercallOutcome out = w.hypercalls->dispatch(req, *w.gva);
    if (out.action != VcpuAction::restart) return;
    req.args = out.restart_args;
  }
  // A guest may legitimately ask for more (a multicall of 2^32 entries continues, as in Xen):
  // each invocation's work is bounded (-timeout catches one that is not); the script moves on.
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  const std::uint8_t flags = in.u8();
  const PagingState paging = paging_state(in.u8(), in);
  PlatformWorld w(flags, paging);
  for (int op = 0; op < kMaxOps && !in.empty(); ++op) {
    switch (in.u8() % 4) {
      case 0: {  // the guest writes memory: argument structs, page tables, shared pages
        const std::uint32_t where = in.u32();  // RAM mostly; the top bit reaches overlay pages too
        const Gpa gpa = (where >> 31) ? (where & 0x7fffffff) : where % kRamTop;
        w.memory.write(gpa, in.bytes(in.u16() % 1024));
        break;
      }
      case 3: w.ticks += in.u32(); break;  // guest time passes
      default: hypercall(in, w); break;
    }
  }
  return 0;
}
