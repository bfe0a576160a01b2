// ABI switching: 2-level -> FIFO (EVTCHNOP_init_control, expand_array) and back (EVTCHNOP_reset).
#include <xen/errno.h>

#include "kxen/log.hpp"
#include "xen/evtchn/event_channels.hpp"
#include "xen/evtchn/fifo.hpp"

namespace kxen {

int EventChannels::switch_to_fifo_locked(evtchn_init_control& op, Effects& fx) {
  auto fifo = std::make_unique<FifoDelivery>(memory_, locator_, config_.vcpus, config_.max_ports);
  if (const int rc = fifo->init_control(op.vcpu, op.control_gfn, op.offset); rc != 0) return rc;
  // Carry bound ports over: remember 2-level pending events and reset priorities (as Xen).
  for (evtchn_port_t p = 1; p < ports_.size(); ++p) {
    Port& port = ports_[p];
    if (port.state == State::free) continue;
    port.saved_pending = two_level_->is_pending(p);
    port.priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
    // KVM would raise these in the 2-level bitmap, which a FIFO guest no longer reads.
    if (port.ipi_in_kernel) {
      port.ipi_in_kernel = false;
      fx.routes.push_back(KernelRoute{p});
    }
  }
  fifo_ = std::move(fifo);
  delivery_ = fifo_.get();
  spdlog::debug("evtchn: switched to FIFO event channels");
  return 0;
}

int EventChannels::init_control(evtchn_init_control& op) {
  op.link_bits = EVTCHN_FIFO_LINK_BITS;
  if (!known_vcpu(op.vcpu)) return -XEN_ENOENT;
  return locked([&](Effects& fx) {
    if (!fifo_) return switch_to_fifo_locked(op, fx);
    return fifo_->init_control(op.vcpu, op.control_gfn, op.offset);
  });
}

int EventChannels::expand_array(const evtchn_expand_array& op) {
  return locked([&](Effects& fx) {
    if (!fifo_) return -XEN_EOPNOTSUPP;
    const std::int64_t first = fifo_->expand_array(op.array_gfn);
    if (first < 0) return static_cast<int>(first);
    // Re-raise events that arrived while these ports had no event word.
    const auto end = std::min<std::size_t>(fifo_->words(), ports_.size());
    for (auto p = static_cast<evtchn_port_t>(first); p < end; ++p) {
      if (!ports_[p].saved_pending) continue;
      ports_[p].saved_pending = false;
      raise_locked(p, fx);
    }
    return 0;
  });
}

std::expected<bool, int> EventChannels::reset_step(domid_t dom, std::uint32_t budget) {
  if (!is_self(dom)) return std::unexpected(other_domain_error(dom));
  bool finished = true;
  locked([&](Effects& fx) {
    std::uint32_t closed = 0;
    for (evtchn_port_t p = 1; p < ports_.size(); ++p) {
      if (ports_[p].state == State::free) continue;
      if (closed++ == budget) {
        finished = false;  // the next step carries on from the ports still bound
        return 0;
      }
      close_locked(p, fx);
    }
    if (fifo_) {
      delivery_ = two_level_.get();
      fifo_.reset();
      spdlog::debug("evtchn: reset to 2-level event channels");
    }
    return 0;
  });
  return finished;
}

int EventChannels::reset(domid_t dom) {
  for (;;) {
    const auto step = reset_step(dom, kHypercallWorkBudget);
    if (!step) return step.error();
    if (*step) return 0;
  }
}

void EventChannels::set_two_level_delivery(std::unique_ptr<PortDelivery> delivery) {
  std::lock_guard lock(mutex_);
  const bool active = delivery_ == two_level_.get();
  two_level_ = std::move(delivery);
  if (active) delivery_ = two_level_.get();
}

EventAbi EventChannels::abi() const {
  std::lock_guard lock(mutex_);
  return delivery_->abi();
}

}  // namespace kxen
