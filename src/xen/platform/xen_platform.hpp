// The Xen platform of one guest: event channels, grant table, XenStore and the memory, HVM and
// vCPU operations that tie them to guest memory and to KVM's in-kernel Xen support.
//
// Lock order: XenPlatform::mutex_ -> EventChannels / GrantTable / XenStore locks -> GuestMemory;
// balloon_mutex_ -> GuestMemory (never with mutex_ held);
// Runstates' and TimerService's locks are leaves below GuestMemory's users and are never held
// while calling out. Accel calls, vCPU kicks and timer expiries happen with mutex_ released.
#pragma once

#include "xen/evtchn/event_channels.hpp"  // first: it pins __XEN_INTERFACE_VERSION__

#include <xen/hvm/params.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"
#include "xen/gnttab/grant_table.hpp"
#include "xen/hypercall/hypercalls.hpp"
#include "xen/platform/evtchn_abi_request.hpp"
#include "xen/platform/xen_accel.hpp"
#include "xen/time/guest_clock.hpp"
#include "xen/time/runstate.hpp"
#include "xen/time/timer_service.hpp"
#include "xen/xenstore/store.hpp"

namespace kxen {

// Wakes a vCPU so it re-enters the guest and sees a pending upcall. Implemented by Vm.
class VcpuKicker {
 public:
  virtual ~VcpuKicker() = default;
  virtual void kick_vcpu(std::uint32_t vcpu) = 0;
};

// memory_op's sub-op sits below bit 6; a continuation keeps its progress above (Xen's
// MEMOP_EXTENT_SHIFT, not in the public headers).
inline constexpr unsigned kMemopExtentShift = 6;
inline constexpr std::uint64_t kMemopCmdMask = (1u << kMemopExtentShift) - 1;

struct MemoryMapEntry {
  std::uint64_t addr = 0;
  std::uint64_t size = 0;
  std::uint32_t type = 0;  // XEN_HVM_MEMMAP_TYPE_* (= e820 types)
};

struct PlatformConfig {
  std::uint32_t vcpus = 1;
  domid_t domid = 1;
  std::vector<MemoryMapEntry> memory_map;
  std::uint64_t ram_pages = 0;
  std::uint64_t console_pfn = 0;
  std::uint64_t store_pfn = 0;
  EvtchnAbiRequest evtchn_abi = EvtchnAbiRequest::automatic;
};

// What Xen keeps per vCPU, for the debugger's `monitor vcpus`.
struct VcpuXenState {
  vcpu_runstate_info runstate{};
  std::optional<Gpa> vcpu_info;
  std::uint8_t upcall_vector = 0;  // 0: the global callback
  evtchn_port_t timer_port = 0;    // VIRQ_TIMER's port as KVM knows it; 0 = none (or kxen's timers)
};

class XenPlatform final : public SharedInfoLocator, public UpcallSink {
 public:
  // clock: the guest's Xen system time (KVM's kvmclock with accel, else one kxen publishes).
  XenPlatform(const PlatformConfig& config, GuestMemory& memory, XenAccel* accel, VcpuKicker& kicker,
              const GuestClock& clock);
  ~XenPlatform() override;
  XenPlatform(const XenPlatform&) = delete;
  XenPlatform& operator=(const XenPlatform&) = delete;

  // Adds event_channel_op, grant_table_op, memory_op, hvm_op, vcpu_op, vm_assist and
  // set_timer_op to the table.
  void register_hypercalls(Hypercalls& hypercalls);

  EventChannels& event_channels() { return *evtchn_; }
  GrantTable& grant_table() { return *gnttab_; }
  std::uint64_t hvm_param(std::uint32_t index) const;
  void set_hvm_param(std::uint32_t index, std::uint64_t value);
  const PlatformConfig& config() const { return config_; }
  // A read-only snapshot of one vCPU's Xen state.
  VcpuXenState vcpu_state(std::uint32_t vcpu) const;
  // A vCPU thread entered or left KVM_RUN / a halt (RUNSTATE_*): user-space runstate accounting.
  void vcpu_runstate(std::uint32_t vcpu, int state);
  // The VM stops: no timer fires any more.
  void stop_timers() { timers_->stop(); }
  // A thread serving the guest (timers, console, xenstore) cannot go on, e.g. std::bad_alloc:
  // one error line, then the VM stops as crashed (through the host register_hypercalls() saw).
  void thread_failed(std::string_view subsystem, std::string_view what);

  // SharedInfoLocator
  std::optional<Gpa> shared_info_gpa() const override;
  std::optional<Gpa> vcpu_info_gpa(std::uint32_t vcpu) const override;
  bool shared_info_64bit() const override;
  // UpcallSink
  void kick(std::uint32_t vcpu) override;
  void port_raised(evtchn_port_t port) override {
    if (poll_) poll_->port_raised(port);
  }
  void wake_poller(std::uint32_t vcpu) override;

  // Hypercall entry points (public for unit tests).
  HypercallOutcome memory_op(const HypercallRequest& request, GuestVirtual& gva);
  HypercallOutcome hvm_op(const HypercallRequest& request, GuestVirtual& gva);
  HypercallOutcome vcpu_op(const HypercallRequest& request, GuestVirtual& gva);
  HypercallOutcome event_channel_op(const HypercallRequest& request, GuestVirtual& gva);
  HypercallOutcome vm_assist(const HypercallRequest& request);
  HypercallOutcome set_timer_op(const HypercallRequest& request);

 private:
  std::int64_t add_to_physmap(std::uint32_t space, std::uint64_t idx, std::uint64_t gpfn, bool long_mode);
  std::int64_t map_shared_info(std::uint64_t gpfn, bool long_mode);
  void point_kvm_at_legacy_vcpu_info(Gpa shared_info);
  std::int64_t memory_map(std::uint64_t arg, bool long_mode, GuestVirtual& gva);
  std::int64_t set_memory_map(std::uint64_t arg, bool long_mode, GuestVirtual& gva);
  struct Reservation {
    std::uint64_t extent_start;  // guest address of the gpfn list
    std::uint64_t nr_extents;
    std::uint32_t extent_order;
    domid_t domid;
  };
  std::optional<Reservation> read_reservation(std::uint64_t arg, bool long_mode, GuestVirtual& gva);
  bool is_guest_ram(std::uint64_t gpfn, std::uint64_t pages) const;
  std::vector<std::uint64_t> read_extents(const Reservation& op, std::uint64_t first, std::uint64_t n, bool long_mode,
                                          GuestVirtual& gva);
  std::uint64_t apply_extents(bool populate, std::span<const std::uint64_t> gpfns, std::uint32_t order);
  void discard_runs(std::span<const std::uint64_t> gpfns, std::uint64_t pages);
  HypercallOutcome change_reservation(bool populate, const HypercallRequest& request, GuestVirtual& gva);
  std::uint64_t current_pages() const;
  std::int64_t set_param(std::uint32_t index, std::uint64_t value);
  std::int64_t register_vcpu_info(std::uint32_t vcpu, std::uint64_t arg, GuestVirtual& gva);
  std::int64_t register_area(std::uint32_t vcpu, std::uint32_t cmd, std::uint64_t pointer, bool long_mode,
                             GuestVirtual& gva);
  // platform_time.cpp: timers, runstate and the pvclock kxen publishes without KVM.
  std::optional<HypercallOutcome> vcpu_time_op(const HypercallRequest& request, GuestVirtual& gva);
  std::int64_t set_singleshot(const HypercallRequest& request, GuestVirtual& gva);
  std::int64_t set_periodic(std::uint32_t vcpu, std::uint64_t arg, GuestVirtual& gva);
  std::int64_t get_runstate_info(std::uint32_t vcpu, std::uint64_t arg, bool long_mode, GuestVirtual& gva);
  void publish_pvclock(std::uint32_t vcpu);
  void publish_wallclock();
  // The one place deciding who raises ports and serves the timer hypercalls: KVM (its VIRQ_TIMER
  // port registered in-kernel) while the guest uses 2-level; it writes 2-level bits only, so
  // never once the guest switched to FIFO: then kxen's TimerService serves the timers.
  bool kvm_raises_ports() const;
  HypercallOutcome close_port(std::uint64_t arg, GuestVirtual& gva);
  void follow_timer_virq(std::uint64_t arg, GuestVirtual& gva);
  void forget_timer_port(evtchn_port_t port);
  void forget_all_timer_ports();

  PlatformConfig config_;
  GuestMemory& memory_;
  XenAccel* accel_;
  VcpuKicker& kicker_;
  std::unique_ptr<EventChannels> evtchn_;
  std::unique_ptr<GrantTable> gnttab_;
  const GuestClock& clock_;
  Runstates runstates_;
  std::unique_ptr<TimerService> timers_;  // after evtchn_: its thread raises VIRQ_TIMER there

  mutable std::mutex mutex_;
  std::optional<Gpa> shared_info_gpa_;
  bool long_mode_ = true;  // layout of shared_info, latched when the guest maps it
  std::vector<std::optional<Gpa>> vcpu_info_gpa_;
  std::vector<std::optional<Gpa>> time_area_gpa_;  // VCPUOP_register_vcpu_time_memory_area, without KVM
  std::vector<evtchn_port_t> timer_port_;     // as registered with KVM; 0 = none
  std::vector<std::uint8_t> upcall_vector_;  // HVMOP_set_evtchn_upcall_vector; 0 = global callback
  bool fifo_offered_ = false;
  std::array<std::uint64_t, HVM_NR_PARAMS> params_{};
  std::once_flag fifo_refusal_logged_;
  SchedPoll* poll_ = nullptr;  // set once in register_hypercalls(), before vCPUs run
  std::atomic<HypercallHost*> host_{nullptr};  // set in register_hypercalls(); the timer thread reads it
  std::optional<std::vector<MemoryMapEntry>> reported_map_;  // XENMEM_set_memory_map's, if any
  // Held across a batch's discards so one call's effect on a page is whole; a leaf above
  // GuestMemory, apart from mutex_ so event delivery never waits on madvise.
  mutable std::mutex balloon_mutex_;
  std::unordered_set<std::uint64_t> ballooned_;  // gpfns the balloon driver gave back
};

}  // namespace kxen
