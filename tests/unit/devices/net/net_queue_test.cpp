// A netif queue served by NetQueue's I/O thread: a frontend written with xen/io/ring.h's macros
// on pages of fake guest RAM, real grants (GrantTable over fake memory), and a fake host port
// that records what was sent and hands over frames to receive.
#include "../../xen/gnttab/gnttab_fakes.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "net/net_queue.hpp"
#include "vmm/backend_context.hpp"
#include "../frontend_ring.hpp"


using namespace kxen;
using namespace kxen::net;

namespace {

constexpr std::uint64_t kTxRingGfn = 0x60, kRxRingGfn = 0x61;
constexpr grant_ref_t kTxRingRef = 1, kRxRingRef = 2;
constexpr std::uint64_t kTxDataGfn = 0x70;  // tx pages: gfn 0x70 + i, ref 10 + i
constexpr grant_ref_t kTxDataRef = 10;
constexpr std::uint64_t kRxDataGfn = 0x90;  // rx buffers: gfn 0x90 + i, ref 40 + i
constexpr grant_ref_t kRxDataRef = 40;
constexpr unsigned kRxBuffers = 40;

struct SentFrame {
  VnetHeader hdr;
  std::vector<std::byte> bytes;
};

// Records sent frames; frames queued with inject() are "read" into the posted buffers.
class FakePort final : public HostPort {
 public:
  FakePort() : ready_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  bool send(const VnetHeader& hdr, std::span<const iovec> frame) override {
    std::lock_guard lock(mutex_);
    SentFrame f{hdr, {}};
    for (const iovec& v : frame) {
      const auto* p = static_cast<const std::byte*>(v.iov_base);
      f.bytes.insert(f.bytes.end(), p, p + v.iov_len);
    }
    // As libslirp answers an ARP request: inside send(), on the queue's thread.
    if (echo && rx_ != nullptr && rx_->ready()) rx_->received_copy(hdr, f.bytes);
    sent_.push_back(std::move(f));
    return true;
  }
  RxFeatures set_rx_offloads(bool, const RxFeatures& wanted) override { return wanted; }
  std::expected<void, std::string> set_in_use(bool) override { return {}; }
  std::size_t max_frame() const override { return max_frame_bytes; }
  void attach(Receiver* rx) override { rx_ = rx; }
  void add_polls(std::vector<pollfd>& fds, int&, bool want_rx) override {
    if (want_rx) fds.push_back({ready_fd_.get(), POLLIN, 0});
  }
  bool service(std::span<const pollfd> fds, Receiver& rx, unsigned) override {
    if (fds.empty() || fds[0].revents == 0) return true;
    std::uint64_t drained;
    [[maybe_unused]] auto n = ::read(ready_fd_.get(), &drained, sizeof drained);
    std::lock_guard lock(mutex_);
    while (!pending_.empty() && rx.ready()) {
      SentFrame f = std::move(pending_.front());
      pending_.pop_front();
      std::size_t done = 0;  // as readv would scatter it
      for (const iovec& v : rx.buffers()) {
        const std::size_t k = std::min(v.iov_len, f.bytes.size() - done);
        std::memcpy(v.iov_base, f.bytes.data() + done, k);
        done += k;
      }
      rx.received(f.hdr, f.bytes.size());
    }
    if (!pending_.empty()) kick();
    return true;
  }
  void inject(const VnetHeader& hdr, std::vector<std::byte> bytes) {
    {
      std::lock_guard lock(mutex_);
      pending_.push_back(SentFrame{hdr, std::move(bytes)});
    }
    kick();
  }
  bool echo = false;  // send() hands each frame straight back as received
  std::size_t max_frame_bytes = kMaxGsoFrame;  // what the port promises; inject() may break it
  std::vector<SentFrame> sent() {
    std::lock_guard lock(mutex_);
    return sent_;
  }

 private:
  Receiver* rx_ = nullptr;  // set and used on the queue's thread only
  void kick() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(ready_fd_.get(), &one, sizeof one);
  }
  Fd ready_fd_;
  std::mutex mutex_;
  std::vector<SentFrame> sent_;
  std::deque<SentFrame> pending_;
};

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 7 + seed) & 0xff);
  // An Ethernet header with an unknown EtherType: no parsing needed unless offloads are asked.
  if (n >= 14) {
    b[12] = std::byte{0x88};
    b[13] = std::byte{0xb5};
  }
  return b;
}

struct NetWorld {
  kxen::test::GnttabWorld grants;
  PlatformGrantAccess access{grants.table};
  Fd kick{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  Fd frontend_event{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  netif_tx_front_ring_t tx{};
  netif_rx_front_ring_t rx{};
  FakePort port;
  NetStats stats;
  std::unique_ptr<NetQueue> queue;

  explicit NetWorld(RxFeatures features = RxFeatures{true, true, true}, std::size_t max_frame = kMaxGsoFrame) {
    port.max_frame_bytes = max_frame;
    grants.grant_v1(kTxRingRef, GTF_permit_access, 0, kTxRingGfn);
    grants.grant_v1(kRxRingRef, GTF_permit_access, 0, kRxRingGfn);
    for (grant_ref_t i = 0; i < 20; ++i)
      grants.grant_v1(kTxDataRef + i, GTF_permit_access | GTF_readonly, 0, static_cast<std::uint32_t>(kTxDataGfn + i));
    for (grant_ref_t i = 0; i < kRxBuffers; ++i)
      grants.grant_v1(kRxDataRef + i, GTF_permit_access, 0, static_cast<std::uint32_t>(kRxDataGfn + i));
    auto* txs = reinterpret_cast<netif_tx_sring_t*>(page(kTxRingGfn));
    auto* rxs = reinterpret_cast<netif_rx_sring_t*>(page(kRxRingGfn));
    SHARED_RING_INIT(txs);
    SHARED_RING_INIT(rxs);
    FRONT_RING_INIT(&tx, txs, 4096);
    FRONT_RING_INIT(&rx, rxs, 4096);
    NetQueue::Parts parts;
    parts.label = "net test";
    parts.grants = &access;
    const grant_ref_t refs[] = {kTxRingRef, kRxRingRef};
    for (auto& m : access.map(refs, true)) {
      REQUIRE(m);
      parts.ring_pages.push_back(*m);
    }
    parts.tx_channel = std::make_unique<kxen::test::TestChannel>(kick.get(), frontend_event.get());
    parts.port = &port;
    parts.rx_features = features;
    parts.stats = &stats;
    auto started = NetQueue::start(std::move(parts));
    REQUIRE(started);
    queue = std::move(*started);
  }
  ~NetWorld() {
    if (queue) queue->stop();
  }
  std::byte* page(std::uint64_t gfn) { return grants.memory.span(gfn << 12, 4096)->data(); }
  void notify() {
    const std::uint64_t one = 1;
    REQUIRE(::write(kick.get(), &one, sizeof one) == sizeof one);
  }
  void push_tx(std::initializer_list<netif_tx_request_t> slots) {
    for (const auto& s : slots) *RING_GET_REQUEST(&tx, tx.req_prod_pvt++) = s;
    if (kxen::test::push_requests(tx)) notify();
  }
  void post_rx(unsigned count) {
    for (unsigned i = 0; i < count; ++i) {
      const RING_IDX idx = rx.req_prod_pvt++;
      *RING_GET_REQUEST(&rx, idx) = netif_rx_request_t{static_cast<std::uint16_t>(idx % kRxBuffers), 0,
                                                       kRxDataRef + idx % kRxBuffers};
    }
    if (kxen::test::push_requests(rx)) notify();
  }
  std::vector<netif_tx_response_t> tx_responses(std::size_t n) {
    return kxen::test::wait_responses<netif_tx_response_t>(tx, frontend_event.get(), n);
  }
  std::vector<netif_rx_response_t> rx_responses(std::size_t n) {
    return kxen::test::wait_responses<netif_rx_response_t>(rx, frontend_event.get(), n);
  }
};

netif_tx_request_t txreq(unsigned page, std::uint16_t offset, std::uint16_t size, std::uint16_t id, std::uint16_t flags = 0) {
  return netif_tx_request_t{kTxDataRef + page, offset, flags, id, size};
}

// A TCP/IPv4 frame of `total` bytes with a 20-byte TCP header.
std::vector<std::byte> tcp4_frame(std::size_t total) {
  std::vector<std::byte> b = pattern(total, 3);
  b[12] = std::byte{0x08};
  b[13] = std::byte{0x00};
  b[14] = std::byte{0x45};
  b[14 + 6] = std::byte{0};
  b[14 + 7] = std::byte{0};
  b[14 + 9] = std::byte{6};
  b[34 + 12] = std::byte{0x50};
  return b;
}

}  // namespace

TEST_CASE("net queue: a one-slot packet goes to the port from the granted page", "[net][threads]") {
  NetWorld w;
  const auto frame = pattern(60, 1);
  std::memcpy(w.page(kTxDataGfn) + 100, frame.data(), frame.size());
  w.push_tx({txreq(0, 100, 60, 9)});
  const auto r = w.tx_responses(1);
  CHECK(r[0].id == 9);
  CHECK(r[0].status == NETIF_RSP_OKAY);
  const auto sent = w.port.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].bytes == frame);
  CHECK(sent[0].hdr.flags == 0);
  CHECK(w.stats.tx_packets == 1);
}

TEST_CASE("net queue: a GSO packet over three slots", "[net][threads]") {
  NetWorld w;
  const auto frame = tcp4_frame(9000);
  std::memcpy(w.page(kTxDataGfn) + 96, frame.data(), 4000);
  std::memcpy(w.page(kTxDataGfn + 1), frame.data() + 4000, 4096);
  std::memcpy(w.page(kTxDataGfn + 2), frame.data() + 8096, 904);
  netif_extra_info_t gso{};
  gso.type = XEN_NETIF_EXTRA_TYPE_GSO;
  gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
  gso.u.gso.size = 1448;
  netif_tx_request_t extra{};
  std::memcpy(&extra, &gso, sizeof gso);
  w.push_tx({txreq(0, 96, 9000, 1, NETTXF_csum_blank | NETTXF_data_validated | NETTXF_more_data | NETTXF_extra_info),
             extra, txreq(1, 0, 4096, 2, NETTXF_more_data), txreq(2, 0, 904, 3)});
  const auto r = w.tx_responses(4);
  CHECK(r[0].status == NETIF_RSP_OKAY);
  CHECK(r[1].status == NETIF_RSP_NULL);
  CHECK(r[2].status == NETIF_RSP_OKAY);
  CHECK(r[3].status == NETIF_RSP_OKAY);
  const auto sent = w.port.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].bytes == frame);
  CHECK(sent[0].hdr.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
  CHECK(sent[0].hdr.gso_type == VIRTIO_NET_HDR_GSO_TCPV4);
  CHECK(sent[0].hdr.gso_size == 1448);
  CHECK(sent[0].hdr.csum_start == 34);
  CHECK(sent[0].hdr.csum_offset == 16);
  CHECK(sent[0].hdr.hdr_len == 54);
}

TEST_CASE("net queue: a bad grant fails its packet only", "[net][threads]") {
  NetWorld w;
  w.push_tx({netif_tx_request_t{999, 0, 0, 1, 60}, txreq(0, 0, 60, 2)});
  const auto r = w.tx_responses(2);
  CHECK(r[0].id == 1);
  CHECK(r[0].status == NETIF_RSP_ERROR);
  CHECK(r[1].id == 2);
  CHECK(r[1].status == NETIF_RSP_OKAY);
  CHECK(w.port.sent().size() == 1);
  CHECK(w.stats.tx_dropped == 1);
}

TEST_CASE("net queue: received frames land in the posted buffers, in their slots", "[net][threads]") {
  NetWorld w;
  w.post_rx(kRxBuffers);
  const auto small = pattern(60, 5);
  w.port.inject(VnetHeader{}, small);
  auto r = w.rx_responses(1);
  CHECK(r[0].id == 0);
  CHECK(r[0].status == 60);
  CHECK(r[0].offset == 0);
  CHECK(r[0].flags == 0);
  CHECK(std::memcmp(w.page(kRxDataGfn), small.data(), 60) == 0);

  // GSO: data in buffers 1, 3, 4; the extra in buffer 2's slot.
  const auto big = tcp4_frame(10000);
  VnetHeader gso{VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16};
  w.port.inject(gso, big);
  r = w.rx_responses(4);
  CHECK(r[0].id == 1);
  CHECK(r[0].flags == (NETRXF_csum_blank | NETRXF_data_validated | NETRXF_extra_info | NETRXF_more_data));
  netif_extra_info_t extra;
  std::memcpy(&extra, &r[1], sizeof extra);
  CHECK(extra.type == XEN_NETIF_EXTRA_TYPE_GSO);
  CHECK(extra.u.gso.size == 1448);
  CHECK(r[2].id == 3);
  CHECK(r[3].id == 4);
  CHECK(r[3].status == 10000 - 8192);
  CHECK(std::memcmp(w.page(kRxDataGfn + 1), big.data(), 4096) == 0);
  CHECK(std::memcmp(w.page(kRxDataGfn + 3), big.data() + 4096, 4096) == 0);
  CHECK(std::memcmp(w.page(kRxDataGfn + 4), big.data() + 8192, 10000 - 8192) == 0);

  // A jumbo frame without GSO fills consecutive buffers 5, 6, 7.
  const auto jumbo = pattern(9014, 9);
  w.port.inject(VnetHeader{}, jumbo);
  r = w.rx_responses(3);
  CHECK(r[0].id == 5);
  CHECK(r[0].flags == NETRXF_more_data);
  CHECK(r[1].id == 6);
  CHECK(r[2].id == 7);
  CHECK(r[2].status == 9014 - 8192);
  CHECK(std::memcmp(w.page(kRxDataGfn + 5), jumbo.data(), 4096) == 0);
  CHECK(std::memcmp(w.page(kRxDataGfn + 6), jumbo.data() + 4096, 4096) == 0);
  CHECK(std::memcmp(w.page(kRxDataGfn + 7), jumbo.data() + 8192, 9014 - 8192) == 0);
  CHECK(w.stats.rx_packets == 3);
}

TEST_CASE("net queue: frames wait until enough buffers are posted", "[net][threads]") {
  NetWorld w;
  w.post_rx(4);  // fewer than a 64 KiB frame needs
  w.port.inject(VnetHeader{}, pattern(100, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(w.stats.rx_packets == 0);
  w.post_rx(20);
  const auto r = w.rx_responses(1);
  CHECK(r[0].status == 100);
}

TEST_CASE("net queue: buffers posted with a packet take the port's immediate answer", "[net][threads]") {
  NetWorld w(RxFeatures{false, false, false});  // one buffer per frame, as for --net user without sg
  w.port.echo = true;
  const auto frame = pattern(60, 4);
  std::memcpy(w.page(kTxDataGfn), frame.data(), frame.size());
  w.push_tx({txreq(0, 0, 60, 1)});  // no buffers yet: its echo is dropped; the thread then sleeps
  REQUIRE(w.tx_responses(1)[0].status == NETIF_RSP_OKAY);
  // Both rings filled before one kick, as netfront posts buffers and sends an ARP request.
  *RING_GET_REQUEST(&w.rx, w.rx.req_prod_pvt++) = netif_rx_request_t{0, 0, kRxDataRef};
  kxen::test::push_requests(w.rx);
  *RING_GET_REQUEST(&w.tx, w.tx.req_prod_pvt++) = txreq(0, 0, 60, 2);
  kxen::test::push_requests(w.tx);
  w.notify();
  CHECK(w.tx_responses(1)[0].status == NETIF_RSP_OKAY);
  const auto r = w.rx_responses(1);
  CHECK(r[0].id == 0);
  CHECK(r[0].status == 60);
  CHECK(std::memcmp(w.page(kRxDataGfn), frame.data(), frame.size()) == 0);
}

TEST_CASE("net queue: a refused rx grant is answered with an error, the frame goes on", "[net][threads]") {
  NetWorld w;
  w.grants.grant_v1(kRxDataRef, 0, 0, kRxDataGfn);  // buffer 0: access revoked
  w.post_rx(kRxBuffers);
  w.port.inject(VnetHeader{}, pattern(70, 2));
  const auto r = w.rx_responses(2);
  CHECK(r[0].id == 0);
  CHECK(r[0].status == NETIF_RSP_ERROR);
  CHECK(r[1].id == 1);
  CHECK(r[1].status == 70);
}

TEST_CASE("net queue: a frame longer than the port promised is dropped, not put in unchecked buffers", "[net][threads]") {
  NetWorld w(RxFeatures{false, false, true}, 1514);  // one buffer per frame is all that is checked
  w.grants.grant_v1(kRxDataRef + 1, 0, 0, kRxDataGfn + 1);  // buffer 1: access revoked
  w.post_rx(kRxBuffers);
  const auto jumbo = pattern(9014, 6);
  SECTION("read into the buffers") { w.port.inject(VnetHeader{}, jumbo); }
  SECTION("copied by the port") {
    w.port.echo = true;
    for (unsigned page = 0; page < 3; ++page)
      std::memcpy(w.page(kTxDataGfn + page), jumbo.data() + page * 4096, std::min<std::size_t>(4096, 9014 - page * 4096));
    w.push_tx({txreq(0, 0, 9014, 1, NETTXF_more_data), txreq(1, 0, 4096, 2, NETTXF_more_data), txreq(2, 0, 822, 3)});
    CHECK(w.tx_responses(3)[0].status == NETIF_RSP_OKAY);
  }
  const auto small = pattern(60, 7);
  w.port.inject(VnetHeader{}, small);  // the next frame takes buffer 0, which is still posted
  const auto r = w.rx_responses(1);
  CHECK(r[0].id == 0);
  CHECK(r[0].status == 60);
  CHECK(std::memcmp(w.page(kRxDataGfn), small.data(), small.size()) == 0);
  CHECK(w.stats.rx_dropped == 1);
  CHECK(w.stats.rx_packets == 1);
}

TEST_CASE("net queue: a wild req_prod disables the queue; stop still works", "[net][threads]") {
  NetWorld w;
  kxen::test::shared_index(w.tx.sring->req_prod).store(100000);
  w.notify();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  w.queue->stop();
  CHECK(w.port.sent().empty());
}
