#include "xen/evtchn/fifo.hpp"

#include <xen/errno.h>

#include "kxen/log.hpp"
#include "xen/evtchn/guest_bits.hpp"

namespace kxen {

namespace {
static_assert(sizeof(evtchn_fifo_control_block) == 72);
static_assert(offsetof(evtchn_fifo_control_block, head) == 8);

constexpr std::uint32_t bit(unsigned n) { return std::uint32_t{1} << n; }
constexpr std::uint32_t kPending = bit(EVTCHN_FIFO_PENDING);
constexpr std::uint32_t kMasked = bit(EVTCHN_FIFO_MASKED);
constexpr std::uint32_t kLinked = bit(EVTCHN_FIFO_LINKED);
constexpr std::uint32_t kBusy = bit(EVTCHN_FIFO_BUSY);
constexpr std::uint32_t kLinkMask = EVTCHN_FIFO_LINK_MASK;
// The guest may only toggle MASKED, clear PENDING and clear LINKED; with BUSY blocking its
// unmask, a handful of cmpxchg retries suffices (Xen allows four).
constexpr int kLinkRetries = 4;

std::atomic_ref<std::uint32_t> at(std::byte* p) { return guest_bits::word_at<std::uint32_t>(p); }

// Writes `link` into a LINKED tail word. 1: linked, 0: tail not linked, -1: word changed.
int try_set_link(std::atomic_ref<std::uint32_t> tail, std::uint32_t& seen, evtchn_port_t link) {
  if (!(seen & kLinked)) return 0;
  const std::uint32_t next = (seen & ~(kBusy | kLinkMask)) | link;
  return tail.compare_exchange_strong(seen, next) ? 1 : -1;
}

// Atomically links the tail to `link` iff the tail is still LINKED; bounded against a guest
// that keeps rewriting the word.
bool set_link(std::byte* tail_word, evtchn_port_t link) {
  auto tail = at(tail_word);
  std::uint32_t seen = tail.load();
  int r = try_set_link(tail, seen, link);
  if (r >= 0) return r == 1;
  tail.fetch_or(kBusy);  // stops the guest from unmasking the tail while we retry
  seen = tail.load();
  for (int i = 0; i < kLinkRetries; ++i) {
    r = try_set_link(tail, seen, link);
    if (r == 0) tail.fetch_and(~kBusy);
    if (r >= 0) return r == 1;
  }
  KXEN_GUEST_WARN("evtchn: FIFO tail word keeps changing; port {} treated as linked", link);
  tail.fetch_and(~kBusy);
  return true;
}
}  // namespace

FifoDelivery::FifoDelivery(const GuestMemory& memory, const SharedInfoLocator& locator, std::uint32_t vcpus,
                           std::uint32_t max_ports)
    : memory_(memory), upcall_(memory, locator),
      max_ports_(std::min<std::uint32_t>(max_ports, EVTCHN_FIFO_NR_CHANNELS)), vcpus_(vcpus) {}

std::optional<std::span<std::byte>> FifoDelivery::guest_page(std::uint64_t gfn) const {
  if (gfn > (~std::uint64_t{0} >> kPageShift)) return std::nullopt;
  const Gpa gpa = gfn << kPageShift;
  // Only ordinary RAM: an overlay (grant frame, shared_info) must not double as an event page.
  if (!memory_.is_ram(gpa, kPageSize)) return std::nullopt;
  return memory_.span(gpa, kPageSize);
}

int FifoDelivery::init_control(std::uint32_t vcpu, std::uint64_t gfn, std::uint32_t offset) {
  if (vcpu >= vcpus_.size()) return -XEN_ENOENT;
  if (offset > kPageSize - sizeof(evtchn_fifo_control_block) || (offset & 7) != 0) return -XEN_EINVAL;
  if (vcpus_[vcpu].control) return -XEN_EINVAL;
  const auto page = guest_page(gfn);
  if (!page) return -XEN_EINVAL;
  vcpus_[vcpu].control = page->data() + offset;
  return 0;
}

std::int64_t FifoDelivery::expand_array(std::uint64_t gfn) {
  const std::uint32_t first = words();
  if (pages_.size() >= kMaxPages || first >= max_ports_) return -XEN_ENOSPC;
  const auto page = guest_page(gfn);
  if (!page) return -XEN_EINVAL;
  pages_.push_back(page->data());
  last_queue_.resize(words());
  return first;
}

std::byte* FifoDelivery::word(evtchn_port_t port) const {
  if (port >= words()) return nullptr;
  return pages_[port / kWordsPerPage] + (port % kWordsPerPage) * sizeof(event_word_t);
}

void FifoDelivery::retarget(evtchn_port_t port, std::uint32_t vcpu, std::uint8_t priority) {
  LastQueue& last = last_queue_[port];
  Queue& old = vcpus_[last.vcpu].queues[last.priority];
  // The port was the old queue's tail: that queue is now empty as far as we link into it.
  if (old.tail == port) old.tail = 0;
  last = {vcpu, priority};
}

bool FifoDelivery::link_into(VcpuQueues& vq, std::uint8_t priority, evtchn_port_t port) {
  Queue& q = vq.queues[priority];
  const bool linked = q.tail != 0 && set_link(word(q.tail), port);
  if (!linked) {
    std::byte* head = vq.control + offsetof(evtchn_fifo_control_block, head) + priority * sizeof(std::uint32_t);
    at(head).store(port);
  }
  q.tail = port;
  return !linked;
}

SetPendingResult FifoDelivery::set_pending(const PortTarget& target, DeliveryEffects& fx) {
  std::byte* w = word(target.port);
  if (!w || target.vcpu >= vcpus_.size() || target.priority > EVTCHN_FIFO_PRIORITY_MIN) return {false, false};
  const bool was_pending = at(w).fetch_or(kPending) & kPending;
  const bool masked = at(w).load() & kMasked;
  // No upcall for a masked event, yet a vCPU polling the port (Linux's spinlock kicker) must wake.
  if (masked && !was_pending) fx.wake_poller(target.vcpu);
  VcpuQueues& vq = vcpus_[target.vcpu];
  // No control block: the guest must not unmask before registering one, so dropping is safe.
  if (!vq.control) return {true, !was_pending};
  bool queue_was_empty = false;
  if (!masked && !(at(w).fetch_or(kLinked) & kLinked)) {
    retarget(target.port, target.vcpu, target.priority);
    queue_was_empty = link_into(vq, target.priority, target.port);
  }
  if (queue_was_empty && !(at(vq.control).fetch_or(bit(target.priority)) & bit(target.priority)))
    upcall_.mark_pending(target.vcpu, fx);
  return {true, !was_pending};
}

void FifoDelivery::clear_pending(evtchn_port_t port) {
  // The guest unlinks non-pending events itself; only PENDING is ours to clear.
  if (std::byte* w = word(port)) at(w).fetch_and(~kPending);
}

void FifoDelivery::unmask(const PortTarget& target, DeliveryEffects& fx) {
  std::byte* w = word(target.port);
  if (!w) return;
  at(w).fetch_and(~kMasked);
  if (at(w).load() & kPending) set_pending(target, fx);
}

bool FifoDelivery::is_pending(evtchn_port_t port) const {
  std::byte* w = word(port);
  return w && (at(w).load() & kPending);
}

bool FifoDelivery::is_masked(evtchn_port_t port) const {
  std::byte* w = word(port);
  return !w || (at(w).load() & kMasked);
}

bool FifoDelivery::is_busy(evtchn_port_t port) const {
  std::byte* w = word(port);
  return w && (at(w).load() & kLinked);
}

}  // namespace kxen
