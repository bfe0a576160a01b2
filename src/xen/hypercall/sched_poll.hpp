// SCHEDOP_poll in user space, for the hypercall-page transport (with kvm-xen, KVM serves poll
// in-kernel and it never reaches kxen): copy and validate the guest's port list once, then
// park the calling vCPU until a listed port is pending, an event for that vCPU needs delivery,
// the timeout passes, or the VM stops.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "kxen/hypercall.hpp"

namespace kxen {

// What poll asks the event channels; implemented over EventChannels, faked in tests.
class PollPorts {
 public:
  virtual ~PollPorts() = default;
  // The port exists in the guest's port table (Xen's port_is_valid), bound or not.
  virtual bool valid(std::uint32_t port) const = 0;
  // Any of these ports pending (masked or not)? Called without SchedPoll's lock held.
  virtual bool any_pending(std::span<const std::uint32_t> ports) const = 0;
};

// Xen system time in ns: what sched_poll.timeout is measured against (absolute, 0 = none).
using SystemTimeNs = std::function<std::uint64_t()>;

// Thread-safe. Lock order: SchedPoll::mutex_ is a leaf; PollPorts is only called without it.
// Whoever attach()es ports must also forward port_raised(), wake() and stop(): a poll with
// no timeout otherwise waits for its port forever and a stopping VM could not join the vCPU.
class SchedPoll final {
 public:
  static constexpr std::uint32_t kMaxPorts = 128;  // Xen's do_poll limit

  // clock: Xen system time; by default ns since this object was made.
  explicit SchedPoll(std::uint32_t vcpus, SystemTimeNs clock = {});

  // Before vCPUs run. Until then SCHEDOP_poll is -XEN_ENOSYS.
  void attach(std::unique_ptr<PollPorts> ports) { ports_ = std::move(ports); }
  bool attached() const { return ports_ != nullptr; }
  // Before vCPUs run: the guest's real Xen system time, replacing the default.
  void set_clock(SystemTimeNs clock) { clock_ = std::move(clock); }
  // Before vCPUs run: told (on the vCPU's thread, without the lock) when a poll starts and ends
  // waiting, for runstate accounting (RUNSTATE_blocked while parked).
  using BlockObserver = std::function<void(std::uint32_t vcpu, bool blocked)>;
  void set_block_observer(BlockObserver observer) { block_observer_ = std::move(observer); }

  // args[1] = guest-virtual sched_poll. Blocks the calling vCPU's thread; 0 or -XEN_E*.
  std::int64_t poll(const HypercallRequest& req, GuestVirtual& mem);

  // A port became pending: pollers look at their ports again. Any thread.
  void port_raised(std::uint32_t port);
  // An event for this vCPU needs delivery: its poll returns (Xen's vcpu_kick). Any thread.
  void wake(std::uint32_t vcpu);
  // The VM is stopping: every poll returns now, and later ones at once.
  void stop();

 private:
  struct Args {
    std::uint64_t ports = 0;  // guest-virtual evtchn_port_t[nr_ports]
    std::uint32_t nr_ports = 0;
    std::uint64_t timeout = 0;
  };
  static std::optional<Args> read_args(const HypercallRequest& req, GuestVirtual& mem);
  std::int64_t read_ports(const Args& args, GuestVirtual& mem, std::vector<std::uint32_t>& out) const;
  std::optional<std::chrono::steady_clock::time_point> deadline_of(std::uint64_t timeout) const;
  void wait(std::uint32_t vcpu, std::span<const std::uint32_t> ports,
            std::optional<std::chrono::steady_clock::time_point> deadline);

  std::unique_ptr<PollPorts> ports_;
  SystemTimeNs clock_;
  BlockObserver block_observer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t raised_ = 0;       // bumped by every port_raised()
  std::vector<bool> woken_;        // per vCPU: a wake() no poll has consumed yet
  bool stopping_ = false;
};

}  // namespace kxen
