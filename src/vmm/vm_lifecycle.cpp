#include "vmm/vm_lifecycle.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kxen {

namespace {
constexpr std::uint32_t kBpVector = 3;
constexpr std::uint32_t kDbVector = 1;
constexpr std::uint64_t kDr6SingleStep = 1ull << 14;
}  // namespace

void VmLifecycle::request_pause_all() {
  for (auto& vcpu : vcpus_) vcpu->request_park();
}

std::vector<std::uint32_t> VmLifecycle::pause_all(std::chrono::milliseconds limit) {
  request_pause_all();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::vector<std::uint32_t> busy;
  for (auto& vcpu : vcpus_)
    if (!vcpu->wait_parked(deadline)) busy.push_back(vcpu->id());
  return busy;
}

bool VmLifecycle::is_parked(std::uint32_t vcpu) { return vcpu < vcpus_.size() && vcpus_[vcpu]->parked(); }

std::expected<void, std::string> VmLifecycle::load_debug(Vcpu& vcpu, std::uint32_t extra_control) {
  kvm_guest_debug debug;
  bool block_irq;
  {
    std::lock_guard lock(mutex_);
    debug = debug_;
    block_irq = block_irq_;
    if (!attached_) return {};  // no debugger: leave KVM's guest debug as detach() left it
  }
  debug.control |= extra_control;
  if (debug.control != 0) debug.control |= KVM_GUESTDBG_ENABLE;
  std::string error;
  auto load = [&](std::uint32_t control) {
    debug.control = control;
    return vcpu.call_outside_run([&](VcpuFd& fd) {
      auto r = fd.set_guest_debug(debug);
      if (!r) error = r.error();
      return r.has_value();
    });
  };
  const std::uint32_t wanted = debug.control | ((extra_control & KVM_GUESTDBG_SINGLESTEP) && block_irq ? KVM_GUESTDBG_BLOCKIRQ : 0);
  if (load(wanted)) return {};
  // Older KVMs lack BLOCKIRQ (Linux 5.16): step without it, interrupts may then be stepped into.
  if ((wanted & KVM_GUESTDBG_BLOCKIRQ) && load(wanted & ~KVM_GUESTDBG_BLOCKIRQ)) {
    std::lock_guard lock(mutex_);
    block_irq_ = false;
    return {};
  }
  return std::unexpected(fmt::format("vcpu{}: {}", vcpu.id(), error));
}

std::expected<void, std::string> VmLifecycle::resume(std::span<const RunAction> actions) {
  if (actions.size() != vcpus_.size()) return std::unexpected(std::string("one run action per vCPU"));
  {
    std::lock_guard lock(mutex_);
    stops_.clear();
    for (std::size_t id = 0; id < actions.size(); ++id) stepping_[id] = actions[id] == RunAction::step;
  }
  for (std::size_t id = 0; id < actions.size(); ++id) {
    if (actions[id] == RunAction::stay) continue;
    const std::uint32_t extra = actions[id] == RunAction::step ? KVM_GUESTDBG_SINGLESTEP : 0;
    if (auto r = load_debug(*vcpus_[id], extra); !r) return r;
  }
  for (std::size_t id = 0; id < actions.size(); ++id)
    if (actions[id] != RunAction::stay) vcpus_[id]->release();
  return {};
}

std::expected<void, std::string> VmLifecycle::resume_all() {
  std::vector<RunAction> all(vcpus_.size(), RunAction::resume);
  return resume(all);
}

void VmLifecycle::attach(ExitFilter filter) {
  std::lock_guard lock(mutex_);
  filter_ = std::move(filter);
  attached_ = true;
  armed_ = true;
  stops_.clear();
}

std::expected<void, std::string> VmLifecycle::detach() {
  {
    std::lock_guard lock(mutex_);
    attached_ = false;
    filter_ = nullptr;
    debug_ = kvm_guest_debug{};
    stops_.clear();
  }
  std::expected<void, std::string> result;
  for (auto& vcpu : vcpus_) {
    const kvm_guest_debug off{};
    std::string error;
    if (!vcpu->call_outside_run([&](VcpuFd& fd) {
          auto r = fd.set_guest_debug(off);
          if (!r) error = r.error();
          return r.has_value();
        }))
      result = std::unexpected(fmt::format("vcpu{}: {}", vcpu->id(), error));
  }
  return result;
}

bool VmLifecycle::attached() const {
  std::lock_guard lock(mutex_);
  return attached_;
}

void VmLifecycle::set_debug(const kvm_guest_debug& debug) {
  std::lock_guard lock(mutex_);
  debug_ = debug;
  debug_.control &= ~static_cast<std::uint32_t>(KVM_GUESTDBG_SINGLESTEP);
}

bool VmLifecycle::was_stepping(std::uint32_t vcpu) const {
  std::lock_guard lock(mutex_);
  return vcpu < stepping_.size() && stepping_[vcpu];
}

std::optional<ExitAction> VmLifecycle::on_debug_exit(std::uint32_t vcpu, const kvm_debug_exit_arch& arch) {
  const DebugExit exit{vcpu, arch};
  ExitFilter filter;
  bool stepped;
  {
    std::lock_guard lock(mutex_);
    if (!attached_) return armed_ ? std::optional(ExitAction::resume) : std::nullopt;  // raced a detach
    filter = filter_;
    stepped = vcpu < stepping_.size() && stepping_[vcpu] && arch.exception == kDbVector && (arch.dr6 & kDr6SingleStep);
  }
  if (!stepped && filter && !filter(exit) && (arch.exception == kBpVector || arch.exception == kDbVector)) {
    // The guest's own int3 or debug-register trap: deliver it as the hardware would have.
    const std::uint32_t inject = arch.exception == kBpVector ? KVM_GUESTDBG_INJECT_BP : KVM_GUESTDBG_INJECT_DB;
    if (auto r = load_debug(*vcpus_[vcpu], inject); !r) spdlog::warn("gdb: vcpu{}: re-injecting: {}", vcpu, r.error());
    return ExitAction::resume;
  }
  {
    std::lock_guard lock(mutex_);
    stops_.push_back(exit);
  }
  stop_cv_.notify_all();
  request_pause_all();
  return ExitAction::park;
}

std::optional<DebugExit> VmLifecycle::wait_stop(std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  if (!stop_cv_.wait_for(lock, limit, [this] { return !stops_.empty() || ended_; })) return std::nullopt;
  if (stops_.empty()) return std::nullopt;
  DebugExit exit = stops_.front();
  stops_.pop_front();
  return exit;
}

void VmLifecycle::vm_ended(bool powered_off, bool rebooting) {
  {
    std::lock_guard lock(mutex_);
    if (!ended_) {
      powered_off_ = powered_off;
      rebooting_ = rebooting;
    }
    ended_ = true;
  }
  stop_cv_.notify_all();
}

bool VmLifecycle::powered_off() const {
  std::lock_guard lock(mutex_);
  return powered_off_;
}

bool VmLifecycle::rebooting() const {
  std::lock_guard lock(mutex_);
  return rebooting_;
}

bool VmLifecycle::ended() const {
  std::lock_guard lock(mutex_);
  return ended_;
}

}  // namespace kxen
