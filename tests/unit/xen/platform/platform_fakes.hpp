// Shared fixtures for the platform unit tests: real GuestMemory, recording XenAccel and kicker.
#pragma once

#include "xen/platform/xen_platform.hpp"  // first: it pins the Xen interface version

#include <xen/errno.h>
#include <xen/hvm/hvm_op.h>
#include <xen/memory.h>
#include <xen/vcpu.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace kxen::test {

// Records every in-kernel request; `ok` = false makes each one fail as a refusing kernel would.
class RecordingAccel final : public XenAccel {
 public:
  using Pair = std::pair<std::uint32_t, std::uint64_t>;
  bool ok = true;
  std::vector<Gpa> shared_info;
  std::vector<Pair> vcpu_info, time_info, runstate, upcall_vectors, timer_ports, sends, injected;
  std::vector<std::uint8_t> callback_vectors;
  std::vector<bool> long_mode;

  bool set_long_mode(bool on) override { return long_mode.push_back(on), ok; }

  bool set_shared_info(Gpa gpa) override { return shared_info.push_back(gpa), ok; }
  bool set_vcpu_info(std::uint32_t v, Gpa gpa) override { return vcpu_info.emplace_back(v, gpa), ok; }
  bool set_vcpu_time_info(std::uint32_t v, Gpa gpa) override { return time_info.emplace_back(v, gpa), ok; }
  bool set_runstate_area(std::uint32_t v, Gpa gpa) override { return runstate.emplace_back(v, gpa), ok; }
  bool set_callback_vector(std::uint8_t vector) override { return callback_vectors.push_back(vector), ok; }
  bool set_vcpu_upcall_vector(std::uint32_t v, std::uint8_t vector) override {
    return upcall_vectors.emplace_back(v, vector), ok;
  }
  bool set_timer_port(std::uint32_t v, std::uint32_t port) override { return timer_ports.emplace_back(v, port), ok; }
  bool send_2level(std::uint32_t port, std::uint32_t v) override { return sends.emplace_back(port, v), ok; }
  bool inject_upcall_vector(std::uint32_t v, std::uint8_t vector) override {
    return injected.emplace_back(v, vector), ok;
  }
  std::optional<vcpu_runstate_info> kvm_runstate;  // what KVM reports (nullopt: it refuses)
  std::optional<vcpu_runstate_info> runstate_data(std::uint32_t) override { return ok ? kvm_runstate : std::nullopt; }
};

class RecordingKicker final : public VcpuKicker {
 public:
  std::vector<std::uint32_t> kicks;
  void kick_vcpu(std::uint32_t vcpu) override { kicks.push_back(vcpu); }
};

// Identity guest-virtual memory whose translate() can be redirected or made to fail.
class TranslatingGva final : public GuestVirtual {
 public:
  explicit TranslatingGva(GuestMemory& memory) : memory_(memory) {}
  bool read(std::uint64_t gva, std::span<std::byte> out) override { return memory_.read(gva, out); }
  bool write(std::uint64_t gva, std::span<const std::byte> in) override { return memory_.write(gva, in); }
  std::optional<std::uint64_t> translate(std::uint64_t gva, bool for_write) override {
    translations.emplace_back(gva, for_write);
    if (unmapped) return std::nullopt;
    if (auto it = remapped.find(gva & ~(kPageSize - 1)); it != remapped.end()) {
      if (!it->second) return std::nullopt;
      return *it->second + (gva & (kPageSize - 1));
    }
    return gva + shift;
  }
  bool unmapped = false;
  std::uint64_t shift = 0;  // gpa = gva + shift
  std::map<std::uint64_t, std::optional<Gpa>> remapped;  // gva page -> gpa page (nullopt: unmapped)
  std::vector<std::pair<std::uint64_t, bool>> translations;

 private:
  GuestMemory& memory_;
};

inline constexpr Gpa kRamTop = 1 << 20;       // 1 MiB of RAM at 0
inline constexpr Gpa kArg = 0x1000;           // where tests put hypercall argument structs
inline constexpr Gpa kBuf = 0x2000;           // a second scratch page (buffers, areas)
inline constexpr std::uint64_t kShinfoPfn = 0x20;    // a RAM page, as Linux chooses
inline constexpr std::uint64_t kHolePfn = 0x400;     // 4 MiB: above RAM, an overlay
inline constexpr std::uint64_t kControlPfn = 0x40;   // FIFO control blocks (RAM)
inline constexpr std::uint64_t kEventArrayPfn = 0x41; // the first FIFO event-array page (RAM)
inline constexpr std::uint64_t kBadPointer = 0x7000'0000;  // not backed by anything
inline constexpr domid_t kDomid = 7;

inline constexpr std::uint64_t kFakeTscKhz = 1'000'000;  // 1 GHz: one tick is one ns
inline constexpr std::uint64_t kFakeTscZero = 5000;      // the guest TSC at system time 0

// The guest's clock: kvmclock-like (KVM writes the pvclock) with accel, else kxen's TSC clock;
// both read `ticks`, the fake guest TSC, so a test moves time by assigning it.
inline std::unique_ptr<GuestClock> fake_clock(std::atomic<std::uint64_t>& ticks, bool kvm) {
  if (kvm) return std::make_unique<SampledClock>([&ticks] { return ticks.load() - kFakeTscZero; });
  TscClockConfig config;
  config.tsc_khz = kFakeTscKhz;
  config.guest_tsc_zero = kFakeTscZero;
  config.tsc_stable = true;
  config.guest_tsc = [&ticks] { return ticks.load(); };
  return std::make_unique<TscClock>(std::move(config));
}

// One guest: 1 MiB RAM, two vCPUs, domid 7, with or without KVM acceleration.
struct PlatformWorld {
  GuestMemory memory;
  RecordingAccel accel;
  RecordingKicker kicker;
  TranslatingGva gva{memory};
  std::atomic<std::uint64_t> ticks{kFakeTscZero};
  std::unique_ptr<GuestClock> clock;
  std::unique_ptr<XenPlatform> platform;

  explicit PlatformWorld(bool with_accel = true, std::uint32_t vcpus = 2,
                         EvtchnAbiRequest abi = EvtchnAbiRequest::automatic)
      : clock(fake_clock(ticks, with_accel)) {
    REQUIRE_FALSE(memory.add_ram(0, kRamTop));
    PlatformConfig config;
    config.vcpus = vcpus;
    config.domid = kDomid;
    config.memory_map = {{0, 0x9f000, 1}, {0x100000, 0x300000, 1}, {0xfee00000, 0x1000, 2}};
    config.ram_pages = kRamTop / kPageSize;
    config.console_pfn = 0x77;
    config.store_pfn = 0x78;
    config.evtchn_abi = abi;
    platform = std::make_unique<XenPlatform>(config, memory, with_accel ? &accel : nullptr, kicker, *clock);
  }

  std::uint32_t caller = 0;  // the vCPU making the calls

  HypercallOutcome call(HypercallOutcome (XenPlatform::*op)(const HypercallRequest&, GuestVirtual&),
                        std::uint64_t a0, std::uint64_t a1, std::uint64_t a2 = 0, bool long_mode = true) {
    HypercallRequest r;
    r.vcpu = caller;
    r.long_mode = long_mode;
    r.args = {a0, a1, a2, 0, 0, 0};
    return (platform.get()->*op)(r, gva);
  }
  std::int64_t memory_op(std::uint64_t cmd, std::uint64_t arg, bool long_mode = true) {
    return call(&XenPlatform::memory_op, cmd, arg, 0, long_mode).result;
  }
  std::int64_t hvm_op(std::uint64_t cmd, std::uint64_t arg) { return call(&XenPlatform::hvm_op, cmd, arg).result; }
  std::int64_t vcpu_op(std::uint64_t cmd, std::uint64_t vcpu, std::uint64_t arg, bool long_mode = true) {
    return call(&XenPlatform::vcpu_op, cmd, vcpu, arg, long_mode).result;
  }
  // vcpu_op with its argument struct written to guest memory at `at` first.
  template <class T>
  std::int64_t vcpu_op_with(std::uint64_t cmd, std::uint64_t vcpu, const T& op, Gpa at = kArg, bool long_mode = true) {
    REQUIRE(memory.write_obj(at, op));
    return vcpu_op(cmd, vcpu, at, long_mode);
  }
  std::int64_t evtchn_op(std::uint64_t cmd, std::uint64_t arg) {
    return call(&XenPlatform::event_channel_op, cmd, arg).result;
  }

  evtchn_port_t bind_virq(std::uint32_t virq, std::uint32_t vcpu) {
    evtchn_bind_virq op{virq, vcpu, 0};
    REQUIRE(memory.write_obj(kArg, op));
    REQUIRE(evtchn_op(EVTCHNOP_bind_virq, kArg) == 0);
    return memory.read_obj<evtchn_bind_virq>(kArg)->port;
  }
  // EVTCHNOP_init_control for `vcpu` with its control block at `offset` in page kControlPfn.
  std::int64_t init_control(std::uint32_t vcpu = 0, std::uint32_t offset = 0) {
    evtchn_init_control op{};
    op.control_gfn = kControlPfn;
    op.offset = offset;
    op.vcpu = vcpu;
    REQUIRE(memory.write_obj(kArg, op));
    return evtchn_op(EVTCHNOP_init_control, kArg);
  }

  // XENMEM_add_to_physmap(shared_info) from a 64-bit caller.
  std::int64_t map_shared_info(std::uint64_t gpfn, domid_t domid = DOMID_SELF, std::uint64_t idx = 0) {
    xen_add_to_physmap op{};
    op.domid = domid;
    op.space = XENMAPSPACE_shared_info;
    op.idx = idx;
    op.gpfn = gpfn;
    REQUIRE(memory.write_obj(kArg, op));
    return memory_op(XENMEM_add_to_physmap, kArg);
  }
  shared_info& shinfo() {
    auto page = memory.span(*platform->shared_info_gpa(), sizeof(shared_info));
    REQUIRE(page);
    return *reinterpret_cast<shared_info*>(page->data());
  }
};

}  // namespace kxen::test
