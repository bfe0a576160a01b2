#include "net/net_queue.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "kxen/log.hpp"
#include "xenbus/io_thread.hpp"

namespace kxen::net {
namespace {

// Slots taken off the tx ring, and frames received, per pass before stop and kicks are looked at.
constexpr unsigned kTxBudget = 256;
constexpr unsigned kRxBudget = 64;

void drain_eventfd(int fd) {
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = ::read(fd, &count, sizeof count);  // non-blocking: EAGAIN is fine
}

std::vector<std::span<std::byte>> page_of(const GrantMapping& m) { return {m.writable_data()}; }

}  // namespace

std::expected<std::unique_ptr<NetQueue>, std::string> NetQueue::start(Parts parts) {
  if (parts.ring_pages.size() != 2) return std::unexpected(std::string("net: need a tx and an rx ring page"));
  auto tx = TxRing::create(page_of(parts.ring_pages[0]));
  if (!tx) return std::unexpected("tx " + tx.error());
  auto rx = RxRing::create(page_of(parts.ring_pages[1]));
  if (!rx) return std::unexpected("rx " + rx.error());
  Fd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) return std::unexpected(fmt::format("eventfd: {}", std::strerror(errno)));
  std::unique_ptr<NetQueue> queue(new NetQueue(std::move(parts), std::move(*tx), std::move(*rx), std::move(stop_fd)));
  queue->thread_ = std::thread([q = queue.get()] { q->run(); });
  return queue;
}

NetQueue::NetQueue(Parts parts, TxRing tx, RxRing rx, Fd stop_fd)
    : parts_(std::move(parts)), tx_(std::move(tx)), rx_(std::move(rx)), stop_fd_(std::move(stop_fd)) {
  const RxFeatures& f = parts_.rx_features;
  gso_possible_ = f.multi_slot && (f.gso_tcpv4 || f.gso_tcpv6);
  const std::size_t frame = parts_.port->max_frame();
  rx_need_ = f.multi_slot ? std::min<unsigned>(pages_for(frame) + (gso_possible_ ? 1 : 0), kMaxPacketSlots) : 1;
}

NetQueue::~NetQueue() { stop(); }

void NetQueue::stop() {
  if (!stopping_.exchange(true)) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  std::vector<GrantMapping> release = std::move(rx_done_);
  rx_done_.clear();
  for (auto& b : posted_)
    if (b.mapping) release.push_back(*b.mapping);
  posted_.clear();
  release.insert(release.end(), parts_.ring_pages.begin(), parts_.ring_pages.end());
  parts_.ring_pages.clear();
  if (!release.empty()) parts_.grants->unmap(release);
  parts_.tx_channel.reset();
  parts_.rx_channel.reset();
}

void NetQueue::run() {
  parts_.port->attach(this);
  prepare_io_thread(parts_.label);
  try {
    serve();
  } catch (const std::exception& e) {
    spdlog::error("{}: I/O thread failed: {}", parts_.label, e.what());
  }
  parts_.port->attach(nullptr);
}

void NetQueue::serve() {
  bool more = true;  // look at both rings once at start: requests may predate the binding
  std::vector<pollfd> fds;
  while (!stopping_.load()) {
    fds.clear();
    fds.push_back({stop_fd_.get(), POLLIN, 0});
    fds.push_back({parts_.tx_channel->eventfd(), POLLIN, 0});
    if (parts_.rx_channel) fds.push_back({parts_.rx_channel->eventfd(), POLLIN, 0});
    const std::size_t port_first = fds.size();
    int timeout = more ? 0 : -1;
    parts_.port->add_polls(fds, timeout, !failed_ && ready());
    if (more) timeout = 0;
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("poll: {}", std::strerror(errno)));
    }
    if (stopping_.load()) return;
    for (std::size_t i = 1; i < port_first; ++i)
      if (fds[i].revents != 0) drain_eventfd(fds[i].fd);
    more = false;
    if (!failed_) {
      // Buffers first: a user-mode port answers some frames (ARP, DHCP) inside send().
      refill_rx();
      if (!service_tx()) more = true;
    }
    if (!parts_.port->service(std::span(fds).subspan(port_first), *this, failed_ ? 0 : kRxBudget)) more = true;
    publish();
  }
}

bool NetQueue::service_tx() {
  for (unsigned budget = kTxBudget;;) {
    auto pending = tx_.pending();
    if (!pending) {
      fail("tx " + pending.error().message());
      return true;
    }
    if (*pending == 0) {
      if (!tx_.final_check()) return true;
      continue;
    }
    for (;;) {
      if (budget == 0) return false;
      auto raw = tx_.take();
      if (!raw) break;
      --budget;
      switch (decoder_.feed(*raw)) {
        case TxVerdict::kNeedMore:
          break;
        case TxVerdict::kPacket:
          transmit(decoder_.take());
          break;
        case TxVerdict::kDrop:
          KXEN_GUEST_WARN("{}: tx packet dropped: {}", parts_.label, decoder_.reason());
          ++parts_.stats->tx_dropped;
          respond_tx(decoder_.take(), NETIF_RSP_ERROR);
          break;
        case TxVerdict::kFatal:
          fail("tx: " + decoder_.reason());
          return true;
      }
    }
  }
}

void NetQueue::transmit(const TxPacket& packet) {
  refs_.clear();
  for (const TxFragment& f : packet.fragments) refs_.push_back(f.gref);
  parts_.grants->map(refs_, false, mapped_);
  std::vector<GrantMapping>& mappings = tx_mappings_;
  std::vector<iovec>& iov = tx_iov_;
  mappings.clear();
  iov.clear();
  bool ok = true;
  for (std::size_t i = 0; i < mapped_.size(); ++i) {
    const auto& mapped = mapped_[i];
    if (!mapped) {
      KXEN_GUEST_WARN("{}: tx grant {} refused ({})", parts_.label, refs_[i], mapped.error());
      ok = false;
      continue;
    }
    mappings.push_back(*mapped);
    const TxFragment& f = packet.fragments[i];
    if (f.size != 0) iov.push_back(iovec{const_cast<std::byte*>(mapped->data().data()) + f.offset, f.size});
  }
  std::int16_t status = NETIF_RSP_ERROR;
  if (ok) {
    std::array<std::byte, kMaxParsedHeader> head{};
    std::size_t got = 0;
    for (const iovec& v : iov) {
      const std::size_t n = std::min(v.iov_len, head.size() - got);
      std::memcpy(head.data() + got, v.iov_base, n);
      got += n;
      if (got == head.size()) break;
    }
    auto hdr = tx_vnet_header(packet, std::span(head.data(), got));
    if (!hdr)
      KXEN_GUEST_WARN("{}: tx packet dropped: {}", parts_.label, hdr.error());
    else if (parts_.port->send(*hdr, iov))
      status = NETIF_RSP_OKAY;
  }
  // netfront ends its grant access when it sees the response: unmap first.
  if (!mappings.empty()) parts_.grants->unmap(mappings);
  if (status == NETIF_RSP_OKAY) {
    ++parts_.stats->tx_packets;
    parts_.stats->tx_bytes += packet.length;
  } else {
    ++parts_.stats->tx_dropped;
  }
  respond_tx(packet, status);
}

void NetQueue::respond_tx(const TxPacket& packet, std::int16_t status) {
  for (const auto& id : packet.responses)
    if (!tx_.push(make_tx_response(id, status))) KXEN_GUEST_WARN("{}: tx response without a request", parts_.label);
}

void NetQueue::refill_rx() {
  for (;;) {
    auto pending = rx_.pending();
    if (!pending) {
      fail("rx " + pending.error().message());
      return;
    }
    if (*pending == 0) {
      // Ask for a kick only when short of buffers (netback's rx_slots_available).
      if (posted_.size() >= rx_need_ || !rx_.final_check()) return;
      continue;
    }
    rx_taken_.clear();
    while (auto req = rx_.take()) rx_taken_.push_back(*req);
    refs_.clear();
    for (const auto& r : rx_taken_) refs_.push_back(r.gref);
    parts_.grants->map(refs_, true, mapped_);
    for (std::size_t i = 0; i < rx_taken_.size(); ++i) {
      RxBuffer b{rx_taken_[i].id, std::nullopt};
      if (mapped_[i])
        b.mapping = *mapped_[i];
      else
        KXEN_GUEST_WARN("{}: rx grant {} refused ({})", parts_.label, refs_[i], mapped_[i].error());
      posted_.push_back(std::move(b));
    }
  }
}

bool NetQueue::ready() {
  // A refused grant among the buffers the next frame may use: answer up to it with errors
  // (netfront recycles those buffers), so a frame never lands in it.
  for (;;) {
    const std::size_t n = std::min<std::size_t>(posted_.size(), rx_need_);
    std::size_t bad = n;
    for (std::size_t i = 0; i < n; ++i)
      if (!posted_[i].mapping) bad = i;
    if (bad == n) break;
    respond_rx_errors(bad + 1);
  }
  return posted_.size() >= rx_need_;
}

void NetQueue::respond_rx_errors(std::size_t count) {
  for (std::size_t i = 0; i < count && !posted_.empty(); ++i) {
    netif_rx_response_t rsp{};
    rsp.id = posted_.front().id;
    rsp.status = NETIF_RSP_ERROR;
    if (posted_.front().mapping) rx_done_.push_back(*posted_.front().mapping);
    posted_.pop_front();
    [[maybe_unused]] const bool pushed = rx_.push(rsp);
  }
}

std::span<const iovec> NetQueue::buffers() {
  rx_iov_.clear();
  for (std::size_t chunk = 0; chunk_slot(chunk) < rx_need_; ++chunk)
    rx_iov_.push_back(iovec{rx_page(chunk_slot(chunk)), kXenPageSize});
  return rx_iov_;
}

// ready() checked the first rx_need_ buffers only: a frame needing more (a port returning more
// than max_frame()) would land in buffers never checked, so it is dropped.
std::optional<RxLayout> NetQueue::fitting_layout(const VnetHeader& hdr, std::size_t length) {
  auto layout = rx_layout(hdr, length, parts_.rx_features);
  if (layout && layout->slots() <= std::min<std::size_t>(rx_need_, posted_.size())) return *layout;
  KXEN_GUEST_WARN("{}: rx frame of {} bytes dropped: {}", parts_.label, length, layout ? "too large" : layout.error());
  ++parts_.stats->rx_dropped;
  return std::nullopt;  // the buffers stay posted for the next frame
}

void NetQueue::received(const VnetHeader& hdr, std::size_t length) {
  const auto layout = fitting_layout(hdr, length);
  if (!layout) return;
  if (gso_possible_ && !layout->gso) {
    // Read as if for GSO (the slot after the first skipped); without it the chunks move down.
    for (unsigned chunk = 1; chunk < layout->data_slots; ++chunk) std::memcpy(rx_page(chunk), rx_page(chunk + 1), kXenPageSize);
  }
  complete_rx(*layout, length);
}

void NetQueue::received_copy(const VnetHeader& hdr, std::span<const std::byte> frame) {
  const auto layout = fitting_layout(hdr, frame.size());
  if (!layout) return;
  const std::size_t first_data = 0;
  for (unsigned chunk = 0; chunk < layout->data_slots; ++chunk) {
    const std::size_t slot = chunk == 0 ? first_data : chunk + (layout->gso ? 1 : 0);
    const std::size_t off = chunk * kXenPageSize;
    std::memcpy(rx_page(slot), frame.data() + off, std::min(kXenPageSize, frame.size() - off));
  }
  complete_rx(*layout, frame.size());
}

void NetQueue::complete_rx(const RxLayout& layout, std::size_t length) {
  std::vector<std::uint16_t> ids;
  for (unsigned i = 0; i < layout.slots(); ++i) ids.push_back(posted_[i].id);
  for (const netif_rx_response_t& rsp : rx_responses(layout, length, ids)) {
    rx_done_.push_back(*posted_.front().mapping);
    posted_.pop_front();
    [[maybe_unused]] const bool pushed = rx_.push(rsp);
  }
  ++parts_.stats->rx_packets;
  parts_.stats->rx_bytes += length;
}

void NetQueue::publish() {
  if (!rx_done_.empty()) {
    parts_.grants->unmap(rx_done_);  // before netfront sees the responses and ends its grants
    rx_done_.clear();
  }
  const bool tx_notify = tx_.publish();
  const bool rx_notify = rx_.publish();
  if (parts_.rx_channel) {
    if (tx_notify) parts_.tx_channel->notify();
    if (rx_notify) parts_.rx_channel->notify();
  } else if (tx_notify || rx_notify) {
    parts_.tx_channel->notify();
  }
}

void NetQueue::fail(std::string_view why) {
  // A frontend that corrupts its rings gets no more service on this queue (netback's choice).
  if (!failed_) KXEN_GUEST_WARN("{}: queue disabled: {}", parts_.label, why);
  failed_ = true;
}

}  // namespace kxen::net
