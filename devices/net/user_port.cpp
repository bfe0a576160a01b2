#include "net/user_port.hpp"

#include <arpa/inet.h>
#include <slirp/libslirp.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "kxen/log.hpp"

namespace kxen::net {
namespace {

// Bytes of frames one NIC holds for a guest that has no rx buffer posted (about 700 full frames).
constexpr std::size_t kBacklogLimit = 1 << 20;

// Slirp opens a host socket for each guest TCP connection, UDP flow and ping, with no limit of
// its own: above this many, a guest's frames that may open one are refused.
constexpr std::size_t kMaxHostSockets = 256;
constexpr std::uint8_t kTcpSyn = 0x02;

// A TCP segment without SYN finds its socket or gets a reset, and ARP and other non-IP frames
// never reach a socket; UDP, ICMP, IP fragments (reassembled by slirp) and SYNs may open one.
bool may_open_host_socket(std::span<const std::byte> frame) {
  if (const auto l4 = parse_l4(frame); l4 && l4->protocol == IPPROTO_TCP)
    return (std::to_integer<std::uint8_t>(frame[l4->l4_offset + 13u]) & kTcpSyn) != 0;
  if (frame.size() < 14) return false;
  const unsigned type = std::to_integer<unsigned>(frame[12]) << 8 | std::to_integer<unsigned>(frame[13]);
  return type == 0x0800 || type == 0x86dd;
}

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

in_addr ipv4(const char* text) {
  in_addr a{};
  ::inet_pton(AF_INET, text, &a);
  return a;
}

short to_poll(int slirp_events) {
  short e = 0;
  if (slirp_events & SLIRP_POLL_IN) e |= POLLIN;
  if (slirp_events & SLIRP_POLL_OUT) e |= POLLOUT;
  if (slirp_events & SLIRP_POLL_PRI) e |= POLLPRI;
  return e;
}

int from_poll(short revents) {
  int e = 0;
  if (revents & POLLIN) e |= SLIRP_POLL_IN;
  if (revents & POLLOUT) e |= SLIRP_POLL_OUT;
  if (revents & POLLPRI) e |= SLIRP_POLL_PRI;
  if (revents & POLLERR) e |= SLIRP_POLL_ERR;
  if (revents & POLLHUP) e |= SLIRP_POLL_HUP;
  return e;
}

}  // namespace

// libslirp's callbacks; `opaque` is the UserPort.
struct SlirpCallbacks {
  static UserPort& port(void* opaque) { return *static_cast<UserPort*>(opaque); }
  static ssize_t send_packet(const void* buf, size_t len, void* opaque) {
    port(opaque).deliver(std::span(static_cast<const std::byte*>(buf), len));
    return static_cast<ssize_t>(len);
  }
  static void guest_error(const char* msg, void*) { KXEN_GUEST_WARN("net user: {}", msg); }
  static int64_t clock_get_ns(void*) { return now_ns(); }
  static void* timer_new(SlirpTimerCb cb, void* cb_opaque, void* opaque) {
    auto& timers = port(opaque).timers_;
    timers.push_back(std::make_unique<UserPort::Timer>(UserPort::Timer{cb, cb_opaque, -1}));
    return timers.back().get();
  }
  static void timer_free(void* timer, void* opaque) {
    auto& timers = port(opaque).timers_;
    std::erase_if(timers, [timer](const auto& t) { return t.get() == timer; });
  }
  static void timer_mod(void* timer, int64_t expire_ms, void*) { static_cast<UserPort::Timer*>(timer)->expire_ms = expire_ms; }
  // Slirp announces most host sockets as it opens and closes them; host_sockets() also takes
  // the last poll set's size, which covers any it does not.
  static void register_poll_fd(int, void* opaque) { ++port(opaque).registered_sockets_; }
  static void unregister_poll_fd(int, void* opaque) {
    auto& p = port(opaque);
    if (p.registered_sockets_ > 0) --p.registered_sockets_;
  }
  static void notify(void*) {}
  static int add_poll(int fd, int events, void* opaque) {
    auto& p = port(opaque);
    if (p.rx_blocked_) events &= ~SLIRP_POLL_IN;
    p.fill_fds_->push_back({fd, to_poll(events), 0});
    return static_cast<int>(p.fill_fds_->size() - 1 - p.fill_base_);
  }
  static int get_revents(int idx, void* opaque) {
    auto& p = port(opaque);
    if (idx < 0 || static_cast<std::size_t>(idx) >= p.polled_.size()) return 0;
    return from_poll(p.polled_[static_cast<std::size_t>(idx)].revents);
  }
};

std::expected<std::unique_ptr<UserPort>, std::string> UserPort::open(const std::vector<HostForward>& forwards,
                                                                    unsigned mtu, const std::array<std::uint8_t, 6>&) {
  static const SlirpCb callbacks = {
      .send_packet = SlirpCallbacks::send_packet,
      .guest_error = SlirpCallbacks::guest_error,
      .clock_get_ns = SlirpCallbacks::clock_get_ns,
      .timer_new = SlirpCallbacks::timer_new,
      .timer_free = SlirpCallbacks::timer_free,
      .timer_mod = SlirpCallbacks::timer_mod,
      .register_poll_fd = SlirpCallbacks::register_poll_fd,
      .unregister_poll_fd = SlirpCallbacks::unregister_poll_fd,
      .notify = SlirpCallbacks::notify,
  };
  std::unique_ptr<UserPort> port(new UserPort());
  port->mtu_ = mtu != 0 ? mtu : 1500;
  SlirpConfig cfg{};
  cfg.version = 1;
  cfg.in_enabled = true;
  cfg.vnetwork = ipv4("10.0.2.0");
  cfg.vnetmask = ipv4("255.255.255.0");
  cfg.vhost = ipv4("10.0.2.2");
  cfg.vdhcp_start = ipv4("10.0.2.15");
  cfg.vnameserver = ipv4("10.0.2.3");
  cfg.vhostname = "kxen";
  cfg.if_mtu = port->mtu_;
  cfg.if_mru = port->mtu_;
  port->slirp_ = slirp_new(&cfg, &callbacks, port.get());
  if (port->slirp_ == nullptr) return std::unexpected(std::string("net user: libslirp refused its configuration"));
  for (const HostForward& f : forwards) {
    if (slirp_add_hostfwd(port->slirp_, 0, ipv4("0.0.0.0"), f.host_port, cfg.vdhcp_start, f.guest_port) < 0)
      return std::unexpected(fmt::format("--net user: hostfwd tcp::{}-:{}: host port {} is in use or cannot be bound",
                                         f.host_port, f.guest_port, f.host_port));
  }
  return port;
}

UserPort::~UserPort() {
  if (slirp_ != nullptr) slirp_cleanup(slirp_);
}

bool UserPort::send(const VnetHeader& hdr, std::span<const iovec> frame) {
  tx_buffer_.clear();
  for (const iovec& v : frame) {
    const auto* p = static_cast<const std::byte*>(v.iov_base);
    tx_buffer_.insert(tx_buffer_.end(), p, p + v.iov_len);
  }
  if (hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE || !finish_checksum(tx_buffer_, hdr)) return false;
  if (host_sockets() >= kMaxHostSockets && may_open_host_socket(tx_buffer_)) {
    KXEN_GUEST_WARN("net user: {} host sockets are open: a frame that may open another is refused", host_sockets());
    return false;
  }
  slirp_input(slirp_, reinterpret_cast<const std::uint8_t*>(tx_buffer_.data()), static_cast<int>(tx_buffer_.size()));
  return true;
}

RxFeatures UserPort::set_rx_offloads(bool, const RxFeatures& wanted) {
  RxFeatures got = wanted;
  got.gso_tcpv4 = got.gso_tcpv6 = false;  // slirp sends whole, summed frames
  return got;
}

void UserPort::attach(Receiver* rx) {
  // Frames still held for the queue going away are its drops.
  for (std::size_t i = 0; rx_ != nullptr && i < backlog_.size(); ++i) rx_->dropped();
  backlog_.clear();
  backlog_bytes_ = 0;
  rx_ = rx;
}

void UserPort::add_polls(std::vector<pollfd>& fds, int& timeout_ms, bool want_rx) {
  rx_blocked_ = !want_rx || !backlog_.empty();
  std::uint32_t timeout = timeout_ms < 0 ? UINT32_MAX : static_cast<std::uint32_t>(timeout_ms);
  fill_fds_ = &fds;
  fill_base_ = fds.size();
  slirp_pollfds_fill(slirp_, &timeout, SlirpCallbacks::add_poll, this);
  polled_sockets_ = fds.size() - fill_base_;
  fill_fds_ = nullptr;
  const std::int64_t now = now_ns() / 1000000;
  for (const auto& t : timers_) {
    if (t->expire_ms < 0) continue;
    timeout = std::min<std::uint32_t>(timeout, static_cast<std::uint32_t>(std::max<std::int64_t>(0, t->expire_ms - now)));
  }
  timeout_ms = timeout == UINT32_MAX ? -1 : static_cast<int>(std::min<std::uint32_t>(timeout, 1000));
}

bool UserPort::service(std::span<const pollfd> fds, Receiver&, unsigned) {
  flush_backlog();
  polled_ = fds;
  slirp_pollfds_poll(slirp_, 0, SlirpCallbacks::get_revents, this);
  polled_ = {};
  run_timers();
  return true;
}

void UserPort::run_timers() {
  const std::int64_t now = now_ns() / 1000000;
  for (std::size_t i = 0; i < timers_.size(); ++i) {  // a callback may add or free timers
    Timer& t = *timers_[i];
    if (t.expire_ms < 0 || t.expire_ms > now) continue;
    t.expire_ms = -1;
    t.callback(t.opaque);
  }
}

void UserPort::deliver(std::span<const std::byte> frame) {
  if (rx_ == nullptr) return;  // no queue attached: no frontend to count it against
  flush_backlog();
  if (backlog_.empty() && rx_->ready()) return rx_->received_copy(VnetHeader{}, frame);
  // The backlog is full: dropped and counted, as a full NIC would.
  if (backlog_bytes_ + frame.size() > kBacklogLimit) return rx_->dropped();
  backlog_.emplace_back(frame.begin(), frame.end());
  backlog_bytes_ += frame.size();
}

void UserPort::flush_backlog() {
  while (rx_ != nullptr && !backlog_.empty() && rx_->ready()) {
    rx_->received_copy(VnetHeader{}, backlog_.front());
    backlog_bytes_ -= backlog_.front().size();
    backlog_.pop_front();
  }
}

}  // namespace kxen::net
