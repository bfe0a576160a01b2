// One netif queue (a tx ring and an rx ring) served on its own I/O thread: transmitted packets
// go from the granted guest pages straight into the host port (writev); received frames go
// into the rx buffers the frontend posted, which stay mapped while they are posted.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kvm/fd.hpp"
#include "net/host_port.hpp"
#include "net/netif_abi.hpp"
#include "net/tx_decoder.hpp"
#include "xenbus/backend.hpp"

namespace kxen::net {

// Per NIC, shared by its queues.
struct NetStats {
  std::atomic<std::uint64_t> tx_packets{0}, tx_bytes{0}, tx_dropped{0};
  std::atomic<std::uint64_t> rx_packets{0}, rx_bytes{0}, rx_dropped{0};
};

// Threads: start() and stop() belong to the XenBus thread; the rest runs on the queue's thread.
class NetQueue final : private HostPort::Receiver {
 public:
  struct Parts {
    std::string label;  // "vif 0 q1" for logs
    xenbus::GrantAccess* grants = nullptr;
    std::vector<GrantMapping> ring_pages;  // [tx ring, rx ring]
    std::unique_ptr<xenbus::EventChannel> tx_channel;
    std::unique_ptr<xenbus::EventChannel> rx_channel;  // null: tx_channel serves both
    HostPort* port = nullptr;
    RxFeatures rx_features;
    NetStats* stats = nullptr;
  };
  static std::expected<std::unique_ptr<NetQueue>, std::string> start(Parts parts);
  ~NetQueue() override;
  NetQueue(const NetQueue&) = delete;
  NetQueue& operator=(const NetQueue&) = delete;

  // Stops the thread and releases rings, posted buffers and channels. Idempotent.
  void stop();

 private:
  struct RxBuffer {
    std::uint16_t id = 0;
    std::optional<GrantMapping> mapping;  // nullopt: the grant was refused
  };

  NetQueue(Parts parts, TxRing tx, RxRing rx, Fd stop_fd);
  void run();
  void serve();
  bool service_tx();
  void transmit(const TxPacket& packet);
  void respond_tx(const TxPacket& packet, std::int16_t status);
  void refill_rx();
  void respond_rx_errors(std::size_t count);
  void complete_rx(const RxLayout& layout, std::size_t length);
  xenbus::EventChannel& rx_channel() { return parts_.rx_channel ? *parts_.rx_channel : *parts_.tx_channel; }
  void publish();
  void fail(std::string_view why);

  // HostPort::Receiver
  bool ready() override;
  std::span<const iovec> buffers() override;
  void received(const VnetHeader& hdr, std::size_t length) override;
  void received_copy(const VnetHeader& hdr, std::span<const std::byte> frame) override;
  std::optional<RxLayout> fitting_layout(const VnetHeader& hdr, std::size_t length);
  void dropped() override { ++parts_.stats->rx_dropped; }
  // The page of posted buffer `index` (its mapping is known to be good).
  std::byte* rx_page(std::size_t index) { return posted_[index].mapping->writable_data().data(); }
  // Posted buffer holding data chunk `chunk` of a frame: with GSO possible, the slot after the
  // first is left for the extra-info response.
  std::size_t chunk_slot(std::size_t chunk) const { return chunk == 0 || !gso_possible_ ? chunk : chunk + 1; }

  Parts parts_;
  TxRing tx_;
  RxRing rx_;
  Fd stop_fd_;
  TxDecoder decoder_;
  std::deque<RxBuffer> posted_;
  std::vector<iovec> rx_iov_;
  std::vector<GrantMapping> rx_done_;  // answered buffers, unmapped before their responses go out
  // Scratch of transmit and refill_rx, kept so that serving a packet allocates nothing.
  std::vector<grant_ref_t> refs_;
  xenbus::GrantAccess::MapResults mapped_;
  std::vector<GrantMapping> tx_mappings_;
  std::vector<iovec> tx_iov_;
  std::vector<netif_rx_request_t> rx_taken_;
  bool gso_possible_ = false;
  unsigned rx_need_ = 1;  // posted buffers the largest frame takes
  bool failed_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kxen::net
