// FIFO event delivery (Xen's common/event_fifo.c semantics): per-vCPU control blocks with
// 16 priority queues, event words in guest pages added by EVTCHNOP_expand_array.
#pragma once

#include <array>
#include <span>
#include <vector>

#include "xen/evtchn/delivery.hpp"

namespace kxen {

class FifoDelivery final : public PortDelivery {
 public:
  static constexpr std::uint32_t kWordsPerPage = kPageSize / sizeof(event_word_t);
  static constexpr std::uint32_t kMaxPages = EVTCHN_FIFO_NR_CHANNELS / kWordsPerPage;

  FifoDelivery(const GuestMemory& memory, const SharedInfoLocator& locator, std::uint32_t vcpus,
               std::uint32_t max_ports);

  // EVTCHNOP_init_control for one vCPU: 0 or -XEN_E*.
  int init_control(std::uint32_t vcpu, std::uint64_t gfn, std::uint32_t offset);
  // EVTCHNOP_expand_array: adds one event page; returns the first newly covered port or -XEN_E*.
  std::int64_t expand_array(std::uint64_t gfn);
  std::uint32_t words() const { return static_cast<std::uint32_t>(pages_.size()) * kWordsPerPage; }

  EventAbi abi() const override { return EventAbi::fifo; }
  std::uint32_t port_limit() const override { return max_ports_; }
  SetPendingResult set_pending(const PortTarget& target, DeliveryEffects& fx) override;
  void clear_pending(evtchn_port_t port) override;
  void unmask(const PortTarget& target, DeliveryEffects& fx) override;
  bool is_pending(evtchn_port_t port) const override;
  bool is_masked(evtchn_port_t port) const override;
  bool is_busy(evtchn_port_t port) const override;

 private:
  struct Queue {
    evtchn_port_t tail = 0;  // 0: empty (port 0 is never bound)
  };
  struct VcpuQueues {
    std::byte* control = nullptr;  // evtchn_fifo_control_block in guest RAM
    std::array<Queue, EVTCHN_FIFO_MAX_QUEUES> queues{};
  };
  struct LastQueue {
    std::uint32_t vcpu = 0;
    std::uint8_t priority = 0;
  };

  std::byte* word(evtchn_port_t port) const;
  std::optional<std::span<std::byte>> guest_page(std::uint64_t gfn) const;
  // Links `port` behind the tail of `q` and publishes head/READY as needed; true if the queue
  // was empty (so the guest needs an upcall).
  bool link_into(VcpuQueues& vq, std::uint8_t priority, evtchn_port_t port);
  // Moves the port's last-queue record to (vcpu, priority), invalidating a stale tail.
  void retarget(evtchn_port_t port, std::uint32_t vcpu, std::uint8_t priority);

  const GuestMemory& memory_;
  UpcallFlag upcall_;
  std::uint32_t max_ports_;
  std::vector<VcpuQueues> vcpus_;
  std::vector<std::byte*> pages_;     // event-array pages in guest RAM
  std::vector<LastQueue> last_queue_; // per covered port
};

}  // namespace kxen
