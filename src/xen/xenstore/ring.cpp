#include "xen/xenstore/ring.hpp"

#include <atomic>
#include <cstddef>
#include <cstring>
#include <deque>
#include <utility>

#include <spdlog/spdlog.h>

#include "kxen/log.hpp"

namespace kxen::xenstore {

static_assert(sizeof(xenstore_domain_interface) == 2076);
static_assert(offsetof(xenstore_domain_interface, req_cons) == 2048);
static_assert(offsetof(xenstore_domain_interface, rsp_prod) == 2060);
static_assert(offsetof(xenstore_domain_interface, server_features) == 2064);
static_assert(offsetof(xenstore_domain_interface, error) == 2072);

namespace {

constexpr std::size_t kBackpressureBytes = 64 * 1024;   // stop reading requests above this
constexpr std::size_t kMaxQueuedBytes = 256 * 1024;     // drop watch events above this
constexpr int kMaxMessagesPerCall = 256;                // a busy guest cannot pin the caller

std::atomic_ref<std::uint32_t> field(std::uint32_t& f) { return std::atomic_ref<std::uint32_t>(f); }

}  // namespace

struct XenStoreRing::Shared {
  std::mutex mutex;
  xenstore_domain_interface* intf = nullptr;  // the shared page: every index is hostile
  Notify notify;
  std::deque<std::string> out;
  std::size_t out_offset = 0;  // bytes of out.front() already in the ring
  std::size_t out_bytes = 0;
  std::size_t dropped = 0;
  bool processing = false;     // process() runs: it reports our writes instead of notify
  bool wrote = false;
  bool broken = false;
  bool needs_reset = false;    // broken: watches and transactions still to discard

  void fail_locked(std::uint32_t error) {
    KXEN_GUEST_WARN("xenstore: ring stopped, error {} (bad index or oversized message)", error);
    broken = needs_reset = true;
    out.clear();
    out_offset = out_bytes = 0;
    field(intf->error).store(error, std::memory_order_release);
  }

  void push_locked(std::string message) {
    out_bytes += message.size();
    out.push_back(std::move(message));
  }

  void copy_out(std::uint32_t prod, const char* src, std::size_t n) {
    const std::size_t at = MASK_XENSTORE_IDX(prod);
    const std::size_t first = std::min(n, XENSTORE_RING_SIZE - at);
    std::memcpy(intf->rsp + at, src, first);
    std::memcpy(intf->rsp, src + first, n - first);
  }

  // Writes as much queued output as the response ring has room for.
  bool flush_locked() {
    if (broken) return false;
    const std::uint32_t cons = field(intf->rsp_cons).load(std::memory_order_acquire);
    std::uint32_t prod = field(intf->rsp_prod).load(std::memory_order_relaxed);
    if (prod - cons > XENSTORE_RING_SIZE) {
      fail_locked(XENSTORE_ERROR_RINGIDX);
      return false;
    }
    const std::uint32_t start = prod;
    while (!out.empty() && prod - cons < XENSTORE_RING_SIZE) {
      const std::string& msg = out.front();
      const std::size_t n = std::min<std::size_t>(XENSTORE_RING_SIZE - (prod - cons), msg.size() - out_offset);
      copy_out(prod, msg.data() + out_offset, n);
      prod += static_cast<std::uint32_t>(n);
      out_offset += n;
      out_bytes -= n;
      if (out_offset == msg.size()) {
        out.pop_front();
        out_offset = 0;
      }
    }
    if (prod != start) field(intf->rsp_prod).store(prod, std::memory_order_release);
    return prod != start;
  }

  // A watch event, possibly from another thread: queue, flush, and signal unless process() will.
  void on_event(std::string message) {
    bool notify_now = false;
    {
      std::lock_guard lock(mutex);
      if (broken) return;
      if (out_bytes + message.size() > kMaxQueuedBytes) {
        ++dropped;
        KXEN_GUEST_WARN("xenstore: guest does not drain its ring, dropping a watch event");
        return;
      }
      push_locked(std::move(message));
      const bool written = flush_locked();
      wrote |= written && processing;
      notify_now = written && !processing;
    }
    if (notify_now && notify) notify();
  }
};

std::expected<std::unique_ptr<XenStoreRing>, std::string> XenStoreRing::create(XenStore& store, DomId domid,
                                                                               std::span<std::byte> page,
                                                                               Notify notify) {
  if (page.size() < sizeof(xenstore_domain_interface)) return std::unexpected("xenstore: ring page too small");
  if (reinterpret_cast<std::uintptr_t>(page.data()) % alignof(std::uint32_t) != 0)
    return std::unexpected("xenstore: ring page misaligned");
  auto shared = std::make_shared<Shared>();
  shared->intf = reinterpret_cast<xenstore_domain_interface*>(page.data());
  shared->notify = std::move(notify);
  // Advertised before any data moves, as xenstore-ring.txt requires.
  field(shared->intf->server_features)
      .store(XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR, std::memory_order_release);
  return std::unique_ptr<XenStoreRing>(new XenStoreRing(store, domid, std::move(shared)));
}

XenStoreRing::XenStoreRing(XenStore& store, DomId domid, std::shared_ptr<Shared> shared)
    : shared_(std::move(shared)),
      protocol_(store, domid,
                [weak = std::weak_ptr<Shared>(shared_)](std::string message) {
                  if (auto s = weak.lock()) s->on_event(std::move(message));
                }),
      domid_(domid) {}

XenStoreRing::~XenStoreRing() = default;

bool XenStoreRing::broken() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->broken;
}

std::size_t XenStoreRing::dropped_events() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->dropped;
}

std::size_t XenStoreRing::queued_bytes() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->out_bytes;
}

// Copies request bytes out of the ring once; a message is complete when its header and its
// whole payload have arrived, possibly over several calls. Called with shared_->mutex held.
XenStoreRing::Input XenStoreRing::read_input(std::string& message, bool& consumed) {
  auto& intf = *shared_->intf;
  std::uint32_t cons = field(intf.req_cons).load(std::memory_order_relaxed);
  const std::uint32_t prod = field(intf.req_prod).load(std::memory_order_acquire);
  if (prod - cons > XENSTORE_RING_SIZE) {
    shared_->fail_locked(XENSTORE_ERROR_RINGIDX);
    return Input::error;
  }
  constexpr std::size_t header = sizeof(xsd_sockmsg);
  Input result = Input::none;
  for (int step = 0; step < 2 && result == Input::none; ++step) {
    xsd_sockmsg hdr{};
    if (partial_.size() >= header) std::memcpy(&hdr, partial_.data(), header);
    const std::size_t want = partial_.size() < header ? header - partial_.size() : header + hdr.len - partial_.size();
    const std::size_t n = std::min<std::size_t>(want, prod - cons);
    const std::size_t at = MASK_XENSTORE_IDX(cons);
    const std::size_t first = std::min(n, XENSTORE_RING_SIZE - at);
    partial_.append(intf.req + at, first).append(intf.req, n - first);
    cons += static_cast<std::uint32_t>(n);
    consumed |= n > 0;
    if (partial_.size() < header) break;
    std::memcpy(&hdr, partial_.data(), header);
    if (hdr.len > XENSTORE_PAYLOAD_MAX) {
      shared_->fail_locked(XENSTORE_ERROR_PROTO);
      result = Input::error;
    } else if (partial_.size() == header + hdr.len) {
      message = std::exchange(partial_, {});
      result = Input::message;
    }
  }
  field(intf.req_cons).store(cons, std::memory_order_release);
  return result;
}

// Resets the ring to an empty, connected state, dropping everything in flight.
void XenStoreRing::reconnect() {
  {
    std::lock_guard lock(shared_->mutex);
    auto& intf = *shared_->intf;
    partial_.clear();
    shared_->out.clear();
    shared_->out_offset = shared_->out_bytes = 0;
    for (auto* idx : {&intf.req_cons, &intf.req_prod, &intf.rsp_cons, &intf.rsp_prod})
      field(*idx).store(0, std::memory_order_relaxed);
    field(intf.error).store(XENSTORE_ERROR_NONE, std::memory_order_relaxed);
    shared_->broken = shared_->needs_reset = false;
  }
  protocol_.reset();
  field(shared_->intf->connection).store(XENSTORE_CONNECTED, std::memory_order_release);
  spdlog::debug("xenstore: d{} reconnected its ring", domid_);
}

bool XenStoreRing::handle_one(bool& produced) {
  std::string message;
  Input input = Input::none;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->broken) return false;
    produced |= shared_->flush_locked();
    if (shared_->out_bytes > kBackpressureBytes) return false;
    input = read_input(message, produced);
  }
  if (input != Input::message) return false;
  xsd_sockmsg header;
  std::memcpy(&header, message.data(), sizeof(header));
  Deliveries deliveries;
  std::string reply = protocol_.handle(header, std::string_view(message).substr(sizeof(header)), deliveries);
  {
    std::lock_guard lock(shared_->mutex);
    shared_->push_locked(std::move(reply));
    produced |= shared_->flush_locked();
  }
  XenStore::deliver(deliveries);  // after the reply, like xenstored
  return true;
}

bool XenStoreRing::process() {
  // A vCPU never waits for another: a kick that finds the ring being served is left to the
  // server, which looks for new kicks after it unlocks.
  bool produced = false;
  kicked_.store(true);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  while (kicked_.load()) {
    std::unique_lock lock(process_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return produced;
    kicked_.store(false);
    produced |= process_locked();
    lock.unlock();
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  return produced;
}

bool XenStoreRing::process_locked() {
  bool produced = false;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->processing = true;
    shared_->wrote = false;
  }
  if (field(shared_->intf->connection).load(std::memory_order_acquire) == XENSTORE_RECONNECT) {
    reconnect();
    produced = true;
  }
  for (int i = 0; i < kMaxMessagesPerCall && handle_one(produced); ++i) {
  }
  bool reset = false;
  {
    std::lock_guard lock(shared_->mutex);
    produced |= shared_->flush_locked();
    shared_->processing = false;
    produced |= shared_->wrote;
    reset = std::exchange(shared_->needs_reset, false);
  }
  if (reset) protocol_.reset();  // a broken connection loses its watches and transactions
  return produced;
}

}  // namespace kxen::xenstore
