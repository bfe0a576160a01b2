#include "xen/hypercall/sched_poll.hpp"

#include <algorithm>

#include "kxen/log.hpp"
#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

namespace {
// A 64-bit caller's sched_poll, as <xen/sched.h> lays it out here.
static_assert(sizeof(sched_poll_t) == 24 && offsetof(sched_poll_t, nr_ports) == 8 &&
              offsetof(sched_poll_t, timeout) == 16);
static_assert(sizeof(evtchn_port_t) == sizeof(std::uint32_t));

// A 32-bit caller's layout (Xen's compat_sched_poll): the guest handle is a 4-byte pointer.
struct SchedPoll32 {
  std::uint32_t ports;
  std::uint32_t nr_ports;
  std::uint64_t timeout;
};
static_assert(sizeof(SchedPoll32) == 16 && offsetof(SchedPoll32, timeout) == 8);

// Further than this is "never" (and keeps steady_clock arithmetic far from overflow).
constexpr std::uint64_t kMaxWaitNs = 1ull << 62;
}  // namespace

SchedPoll::SchedPoll(std::uint32_t vcpus, SystemTimeNs clock) : clock_(std::move(clock)), woken_(vcpus, false) {
  if (!clock_) {
    const auto epoch = std::chrono::steady_clock::now();
    clock_ = [epoch] {
      const auto since = std::chrono::steady_clock::now() - epoch;
      return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(since).count());
    };
  }
}

std::int64_t SchedPoll::poll(const HypercallRequest& req, GuestVirtual& mem) {
  if (!ports_) return -XEN_ENOSYS;
  if (req.vcpu >= woken_.size()) return -XEN_EINVAL;
  const auto args = read_args(req, mem);
  if (!args) return -XEN_EFAULT;
  std::vector<std::uint32_t> ports;
  if (const std::int64_t rc = read_ports(*args, mem, ports); rc != 0) return rc;
  if (block_observer_) block_observer_(req.vcpu, true);
  wait(req.vcpu, ports, deadline_of(args->timeout));
  if (block_observer_) block_observer_(req.vcpu, false);
  return 0;  // Xen returns 0 for a pending port, an event and a timeout alike
}

std::optional<SchedPoll::Args> SchedPoll::read_args(const HypercallRequest& req, GuestVirtual& mem) {
  if (req.long_mode) {
    const auto op = mem.read_obj<sched_poll_t>(req.args[1]);
    if (!op) return std::nullopt;
    return Args{reinterpret_cast<std::uint64_t>(op->ports.p), op->nr_ports, op->timeout};
  }
  const auto op = mem.read_obj<SchedPoll32>(req.args[1]);
  if (!op) return std::nullopt;
  return Args{op->ports, op->nr_ports, op->timeout};
}

std::int64_t SchedPoll::read_ports(const Args& args, GuestVirtual& mem, std::vector<std::uint32_t>& out) const {
  if (args.nr_ports > kMaxPorts) return -XEN_EINVAL;
  out.resize(args.nr_ports);
  // Copied once: the guest may rewrite its array while we wait.
  if (!out.empty() && !mem.read(args.ports, std::as_writable_bytes(std::span(out)))) return -XEN_EFAULT;
  for (const std::uint32_t port : out) {
    if (!ports_->valid(port)) {
      KXEN_GUEST_WARN("sched: SCHEDOP_poll on port {}, which the guest does not have", port);
      return -XEN_EINVAL;
    }
  }
  return 0;
}

std::optional<std::chrono::steady_clock::time_point> SchedPoll::deadline_of(std::uint64_t timeout) const {
  if (timeout == 0) return std::nullopt;
  const std::uint64_t now = clock_();
  const std::uint64_t left = timeout > now ? std::min(timeout - now, kMaxWaitNs) : 0;
  return std::chrono::steady_clock::now() + std::chrono::nanoseconds(static_cast<std::int64_t>(left));
}

void SchedPoll::wait(std::uint32_t vcpu, std::span<const std::uint32_t> ports,
                     std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stopping_) return;
    if (woken_[vcpu]) {
      woken_[vcpu] = false;
      return;
    }
    const std::uint64_t seen = raised_;
    lock.unlock();
    const bool pending = ports_->any_pending(ports);  // takes the event-channel lock: not under ours
    lock.lock();
    if (pending) return;
    if (raised_ != seen) continue;  // a port was raised while we looked: look again
    if (!deadline) {
      changed_.wait(lock);
    } else if (changed_.wait_until(lock, *deadline) == std::cv_status::timeout) {
      return;
    }
  }
}

void SchedPoll::port_raised(std::uint32_t) {
  {
    std::lock_guard lock(mutex_);
    ++raised_;
  }
  changed_.notify_all();
}

void SchedPoll::wake(std::uint32_t vcpu) {
  {
    std::lock_guard lock(mutex_);
    if (vcpu >= woken_.size()) return;
    woken_[vcpu] = true;
  }
  changed_.notify_all();
}

void SchedPoll::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
}

}  // namespace kxen
