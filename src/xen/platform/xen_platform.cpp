#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

#include <xen/errno.h>
#include <xen/hvm/params.h>

#include <utility>

#include "kxen/log.hpp"
#include "xen/hypercall/evtchn_poll_ports.hpp"
#include "xen/platform/kvm_two_level.hpp"

namespace kxen {

XenPlatform::XenPlatform(const PlatformConfig& config, GuestMemory& memory, XenAccel* accel, VcpuKicker& kicker,
                         const GuestClock& clock)
    : config_(config), memory_(memory), accel_(accel), kicker_(kicker), clock_(clock),
      runstates_(config.vcpus, clock, memory) {
  vcpu_info_gpa_.resize(config.vcpus);
  time_area_gpa_.resize(config.vcpus);
  timer_port_.resize(config.vcpus, 0);
  upcall_vector_.resize(config.vcpus, 0);
  fifo_offered_ = fifo_offered(config.evtchn_abi, accel != nullptr);
  EventChannelsConfig ec;
  ec.vcpus = config.vcpus;
  ec.domid = config.domid;
  evtchn_ = std::make_unique<EventChannels>(ec, memory_, *this, *this);
  // KVM raises 2-level ports itself so its in-kernel timers, pollers and upcalls stay coherent.
  if (accel_) evtchn_->set_two_level_delivery(std::make_unique<KvmTwoLevelDelivery>(memory_, *this, *accel_));
  GrantTableConfig gc;
  gc.domid = config.domid;
  gnttab_ = std::make_unique<GrantTable>(gc, memory_);
  // Xen drops a timer event for a vCPU whose VIRQ_TIMER is not bound; so does raise_virq.
  timers_ = std::make_unique<TimerService>(
      config.vcpus, clock_, [this](std::uint32_t vcpu) { evtchn_->raise_virq(vcpu, VIRQ_TIMER); },
      [this](std::string_view what) { thread_failed("timers", what); });
  params_[HVM_PARAM_CONSOLE_PFN] = config.console_pfn;
  params_[HVM_PARAM_STORE_PFN] = config.store_pfn;
}

XenPlatform::~XenPlatform() = default;

void XenPlatform::register_hypercalls(Hypercalls& hypercalls) {
  host_.store(&hypercalls.host());
  // SCHEDOP_poll in user space (the hypercall-page transport; KVM answers it with kvm-xen).
  poll_ = &hypercalls.sched_poll();
  poll_->attach(std::make_unique<EvtchnPollPorts>(*evtchn_));
  poll_->set_clock([this] { return clock_.now_ns(); });  // sched_poll.timeout is Xen system time
  poll_->set_block_observer(
      [this](std::uint32_t vcpu, bool blocked) { vcpu_runstate(vcpu, blocked ? RUNSTATE_blocked : RUNSTATE_running); });
  hypercalls.set_handler(__HYPERVISOR_event_channel_op,
                         [this](const HypercallRequest& r, GuestVirtual& g) { return event_channel_op(r, g); });
  hypercalls.set_handler(__HYPERVISOR_grant_table_op,
                         [this](const HypercallRequest& r, GuestVirtual& g) { return gnttab_->hypercall(r, g); });
  hypercalls.set_handler(__HYPERVISOR_memory_op,
                         [this](const HypercallRequest& r, GuestVirtual& g) { return memory_op(r, g); });
  hypercalls.set_handler(__HYPERVISOR_hvm_op,
                         [this](const HypercallRequest& r, GuestVirtual& g) { return hvm_op(r, g); });
  hypercalls.set_handler(__HYPERVISOR_vcpu_op,
                         [this](const HypercallRequest& r, GuestVirtual& g) { return vcpu_op(r, g); });
  hypercalls.set_handler(__HYPERVISOR_vm_assist, [this](const HypercallRequest& r, GuestVirtual&) { return vm_assist(r); });
  hypercalls.set_handler(__HYPERVISOR_set_timer_op,
                         [this](const HypercallRequest& r, GuestVirtual&) { return set_timer_op(r); });
}

void XenPlatform::thread_failed(std::string_view subsystem, std::string_view what) {
  spdlog::error("{}: {}; the VM stops", subsystem, what);
  if (HypercallHost* host = host_.load()) host->failed(fmt::format("{}: {}", subsystem, what));
}

std::uint64_t XenPlatform::hvm_param(std::uint32_t index) const {
  std::lock_guard lock(mutex_);
  return index < params_.size() ? params_[index] : 0;
}

void XenPlatform::set_hvm_param(std::uint32_t index, std::uint64_t value) {
  std::lock_guard lock(mutex_);
  if (index < params_.size()) params_[index] = value;
}

std::optional<Gpa> XenPlatform::shared_info_gpa() const {
  std::lock_guard lock(mutex_);
  return shared_info_gpa_;
}

std::optional<Gpa> XenPlatform::vcpu_info_gpa(std::uint32_t vcpu) const {
  std::lock_guard lock(mutex_);
  if (vcpu >= vcpu_info_gpa_.size()) return std::nullopt;
  if (vcpu_info_gpa_[vcpu]) return vcpu_info_gpa_[vcpu];
  // Until registered, vCPUs below XEN_LEGACY_MAX_VCPUS use their slot inside shared_info.
  if (!shared_info_gpa_ || vcpu >= XEN_LEGACY_MAX_VCPUS) return std::nullopt;
  return *shared_info_gpa_ + offsetof(shared_info, vcpu_info) + vcpu * sizeof(vcpu_info);
}

bool XenPlatform::shared_info_64bit() const {
  std::lock_guard lock(mutex_);
  return long_mode_;
}

HypercallOutcome XenPlatform::event_channel_op(const HypercallRequest& request, GuestVirtual& gva) {
  const std::uint64_t cmd = request.args[0];
  if (cmd == EVTCHNOP_init_control && !fifo_offered_) {
    std::call_once(fifo_refusal_logged_, [] {
      spdlog::info("evtchn: FIFO ABI not offered (--evtchn-abi); the guest keeps 2-level event channels");
    });
    return {-XEN_ENOSYS};  // what Xen answers for an ABI it does not offer
  }
  if (cmd == EVTCHNOP_close) return close_port(request.args[1], gva);
  HypercallOutcome outcome = evtchn_->hypercall(request, gva);
  if (outcome.result != 0 || outcome.action == VcpuAction::restart) return outcome;
  if (cmd == EVTCHNOP_bind_virq) follow_timer_virq(request.args[1], gva);
  // After a switch to FIFO KVM's timer must stop raising 2-level bits; after a reset no port is left.
  if (cmd == EVTCHNOP_reset || cmd == EVTCHNOP_init_control) forget_all_timer_ports();
  return outcome;
}

// Copy-once: the port KVM's timer forgets is the port that is closed, whatever the guest
// writes into its struct meanwhile.
HypercallOutcome XenPlatform::close_port(std::uint64_t arg, GuestVirtual& gva) {
  const auto op = gva.read_obj<evtchn_close>(arg);
  if (!op) return {-XEN_EFAULT};
  forget_timer_port(op->port);
  const int rc = evtchn_->close(op->port);
  if (rc != 0) spdlog::debug("evtchn: close of port {} -> {}", op->port, rc);
  return {rc};
}

void XenPlatform::follow_timer_virq(std::uint64_t arg, GuestVirtual& gva) {
  auto op = gva.read_obj<evtchn_bind_virq>(arg);
  if (!kvm_raises_ports() || !op || op->virq != VIRQ_TIMER || op->vcpu >= config_.vcpus) return;
  // The guest may rewrite its struct: trust only what the port table says about the port.
  evtchn_status status{};
  status.dom = DOMID_SELF;
  status.port = op->port;
  if (evtchn_->status(status) != 0 || status.status != EVTCHNSTAT_virq || status.u.virq != VIRQ_TIMER ||
      status.vcpu != op->vcpu)
    return;
  {
    std::lock_guard lock(mutex_);
    timer_port_[op->vcpu] = op->port;
  }
  if (!accel_->set_timer_port(op->vcpu, op->port)) spdlog::error("xen: vcpu{}: KVM refused the timer port", op->vcpu);
  if (kvm_raises_ports()) return;
  // init_control on another vCPU won meanwhile and may have missed this registration: undo it.
  {
    std::lock_guard lock(mutex_);
    if (timer_port_[op->vcpu] == op->port) timer_port_[op->vcpu] = 0;
  }
  accel_->set_timer_port(op->vcpu, 0);
}

void XenPlatform::forget_all_timer_ports() {
  if (!accel_) return;
  for (std::uint32_t vcpu = 0; vcpu < config_.vcpus; ++vcpu) {
    evtchn_port_t old = 0;
    {
      std::lock_guard lock(mutex_);
      old = std::exchange(timer_port_[vcpu], 0);
    }
    if (old != 0) accel_->set_timer_port(vcpu, 0);
  }
}

void XenPlatform::forget_timer_port(evtchn_port_t port) {
  if (!accel_ || port == 0) return;
  for (std::uint32_t vcpu = 0; vcpu < config_.vcpus; ++vcpu) {
    bool was_timer = false;
    {
      std::lock_guard lock(mutex_);
      was_timer = timer_port_[vcpu] == port;
      if (was_timer) timer_port_[vcpu] = 0;
    }
    if (was_timer) accel_->set_timer_port(vcpu, 0);
  }
}

}  // namespace kxen
