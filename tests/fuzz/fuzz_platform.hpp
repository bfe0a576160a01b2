// One guest's Xen platform for the hypercall harnesses: real GuestMemory (RAM at 0), the
// dispatcher with every handler XenPlatform registers, a permissive or absent XenAccel, and a
// fake guest TSC that only the input moves. No KVM, no CLI.
#pragma once

#include "xen/platform/xen_platform.hpp"  // first: it pins the Xen interface version

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "fuzz_input.hpp"
#include "xen/hypercall/hypercalls.hpp"
#include "xen/hypercall/paged_guest_virtual.hpp"

namespace kxen::fuzz {

inline constexpr Gpa kRamTop = 2ull << 20;  // 2 MiB of RAM at 0
inline constexpr Gpa kArg = 0x1000;         // where harnesses put argument structs
inline constexpr Gpa kBuf = 0x2000;         // scratch pages from here
inline constexpr Gpa kTables = 0x100000;    // the 4-level page tables built at start
inline constexpr std::uint64_t kHighVa = 0xffff888000000000ull;  // maps the low 1 MiB when paged
inline constexpr std::uint32_t kVcpus = 2;
inline constexpr domid_t kDomid = 7;

// Says yes to everything, as a KVM with Xen support would.
class AcceptingAccel final : public XenAccel {
 public:
  bool set_long_mode(bool) override { return true; }
  bool set_shared_info(Gpa) override { return true; }
  bool set_vcpu_info(std::uint32_t, Gpa) override { return true; }
  bool set_vcpu_time_info(std::uint32_t, Gpa) override { return true; }
  bool set_runstate_area(std::uint32_t, Gpa) override { return true; }
  bool set_callback_vector(std::uint8_t) override { return true; }
  bool set_vcpu_upcall_vector(std::uint32_t, std::uint8_t) override { return true; }
  bool set_timer_port(std::uint32_t, std::uint32_t) override { return true; }
  bool send_2level(std::uint32_t, std::uint32_t) override { return true; }
  bool inject_upcall_vector(std::uint32_t, std::uint8_t) override { return true; }
  std::optional<vcpu_runstate_info> runstate_data(std::uint32_t) override { return vcpu_runstate_info{}; }
};

class NullKicker final : public VcpuKicker {
 public:
  void kick_vcpu(std::uint32_t) override {}
};

class FakeHost final : public HypercallHost {
 public:
  void console_output(std::string_view bytes) override { output_bytes += bytes.size(); }
  std::size_t console_input(std::span<char> out) override {
    for (auto& c : out) c = 'x';
    return out.size() / 2;
  }
  void shutdown(ShutdownReason) override { ++shutdowns; }
  std::size_t output_bytes = 0;
  int shutdowns = 0;
};

// Paging modes a script picks; the last takes raw control registers from the input.
inline PagingState paging_state(std::uint8_t pick, FuzzInput& in) {
  constexpr std::uint64_t pe = 1, wp = 1ull << 16, pg = 1ull << 31, pse = 1ull << 4, pae = 1ull << 5;
  constexpr std::uint64_t lme = 1ull << 8, lma = 1ull << 10, nxe = 1ull << 11;
  PagingState s;
  s.cr3 = kTables;
  switch (pick % 6) {
    case 0: s.cr0 = pe; break;                                                     // flat
    case 1: s.cr0 = pe | wp | pg; s.cr4 = pae; s.efer = lme | lma | nxe; break;    // 4-level, built
    case 2: s.cr0 = pe | wp | pg; s.cr4 = pse; s.cr3 = in.u32(); break;            // 2-level
    case 3: s.cr0 = pe | wp | pg; s.cr4 = pae; s.efer = nxe; s.cr3 = in.u32(); break;  // PAE
    case 4: s.cr0 = pe | wp | pg; s.cr4 = pae | (1ull << 12); s.efer = lme | lma | nxe; s.cr3 = in.u32(); break;
    default: s.cr0 = in.u64(); s.cr3 = in.u64(); s.cr4 = in.u64(); s.efer = in.u64(); break;
  }
  return s;
}

struct PlatformWorld {
  GuestMemory memory;
  AcceptingAccel accel;
  NullKicker kicker;
  FakeHost host;
  std::atomic<std::uint64_t> ticks{5000};
  std::unique_ptr<GuestClock> clock;
  std::unique_ptr<XenPlatform> platform;
  std::unique_ptr<Hypercalls> hypercalls;
  std::unique_ptr<PagedGuestVirtual> gva;

  // flags: bit 0 = with KVM acceleration, bit 1 = FIFO refused (2-level only).
  PlatformWorld(std::uint8_t flags, const PagingState& paging) {
    if (memory.add_ram(0, kRamTop)) invariant_failed("add_ram");
    build_page_tables();
    const bool with_accel = flags & 1;
    if (with_accel) {
      clock = std::make_unique<SampledClock>([this] { return ticks.load() - 5000; });
    } else {
      TscClockConfig c;
      c.tsc_khz = 1'000'000;
      c.guest_tsc_zero = 5000;
      c.tsc_stable = true;
      c.guest_tsc = [this] { return ticks.load(); };
      clock = std::make_unique<TscClock>(std::move(c));
    }
    PlatformConfig config;
    config.vcpus = kVcpus;
    config.domid = kDomid;
    config.memory_map = {{0, 0x9f000, 1}, {0x100000, kRamTop - 0x100000, 1}, {0xfee00000, 0x1000, 2}};
    config.ram_pages = kRamTop / kPageSize;
    config.console_pfn = 0x77;
    config.store_pfn = 0x78;
    config.evtchn_abi = (flags & 2) ? EvtchnAbiRequest::two_level : EvtchnAbiRequest::automatic;
    platform = std::make_unique<XenPlatform>(config, memory, with_accel ? &accel : nullptr, kicker, *clock);
    HypercallConfig hc;
    hc.vcpu_count = kVcpus;
    hypercalls = std::make_unique<Hypercalls>(memory, host, hc);
    platform->register_hypercalls(*hypercalls);
    // SCHEDOP_poll parks the calling vCPU thread until an event, its timeout (guest time, which
    // only the input moves) or VM stop: as if the VM were stopping, every poll returns after
    // validating its arguments instead of hanging the harness.
    hypercalls->sched_poll().stop();
    gva_state = paging;
    gva = std::make_unique<PagedGuestVirtual>(memory, paging);
  }
  ~PlatformWorld() { platform->stop_timers(); }

  // kHighVa + x -> x for the low 1 MiB in 4 KiB pages, like Linux's direct map.
  void build_page_tables() {
    const Gpa pml4 = kTables, pdpt = kTables + 0x1000, pd = kTables + 0x2000, pt = kTables + 0x3000;
    constexpr std::uint64_t prw = 3;
    const auto idx = [](std::uint64_t va, unsigned shift) { return (va >> shift) & 511; };
    memory.write_obj(pml4 + idx(kHighVa, 39) * 8, pdpt | prw);
    memory.write_obj(pdpt + idx(kHighVa, 30) * 8, pd | prw);
    memory.write_obj(pd + idx(kHighVa, 21) * 8, pt | prw);
    for (std::uint64_t i = 0; i < 256; ++i) memory.write_obj(pt + i * 8, (i << kPageShift) | prw);
  }

  // Where a script's pointer argument points: the guest-virtual address of kBuf + offset.
  std::uint64_t pointer(std::uint64_t offset) const {
    const Gpa gpa = kArg + offset;
    return paging_mode(gva_state) == PagingMode::four_level ? kHighVa + gpa : gpa;
  }
  PagingState gva_state;
};

}  // namespace kxen::fuzz
