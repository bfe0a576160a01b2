// User-mode networking through libslirp: no tap, no root. The guest sees QEMU's usual network
// (10.0.2.0/24: gateway 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15); host ports forward to guest
// TCP ports (hostfwd). Slirp wants whole frames with their checksums filled in, so transmit
// gathers each frame into one buffer and sums it, and no GSO is offered for such a NIC.
// Frames slirp makes while the guest has no rx buffer wait in a bounded backlog, and slirp's
// host sockets are not read until it drains: slirp's TCP recovers from a drop only by its
// retransmit timer, so dropping a burst stalls a transfer for seconds.
// Slirp is not thread-safe: only the thread of the one queue attached to it drives it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "net/host_port.hpp"
#include "net/net_options.hpp"

struct Slirp;

namespace kxen::net {

class UserPort final : public HostPort {
 public:
  // Binds every hostfwd's host port now (one line if one is in use).
  static std::expected<std::unique_ptr<UserPort>, std::string> open(const std::vector<HostForward>& forwards,
                                                                    unsigned mtu, const std::array<std::uint8_t, 6>& mac);
  ~UserPort() override;
  UserPort(const UserPort&) = delete;
  UserPort& operator=(const UserPort&) = delete;

  bool send(const VnetHeader& hdr, std::span<const iovec> frame) override;
  RxFeatures set_rx_offloads(bool csum, const RxFeatures& wanted) override;
  std::expected<void, std::string> set_in_use(bool) override { return {}; }  // one queue, always served
  std::size_t max_frame() const override { return mtu_ + 18; }
  void attach(Receiver* rx) override;
  void add_polls(std::vector<pollfd>& fds, int& timeout_ms, bool want_rx) override;
  bool service(std::span<const pollfd> fds, Receiver& rx, unsigned budget) override;

 private:
  struct Timer {
    void (*callback)(void*) = nullptr;
    void* opaque = nullptr;
    std::int64_t expire_ms = -1;  // -1: not armed
  };
  UserPort() = default;
  friend struct SlirpCallbacks;
  void deliver(std::span<const std::byte> frame);
  std::size_t host_sockets() const { return std::max(registered_sockets_, polled_sockets_); }
  void flush_backlog();
  void run_timers();

  Slirp* slirp_ = nullptr;
  unsigned mtu_ = 1500;
  Receiver* rx_ = nullptr;
  std::deque<std::vector<std::byte>> backlog_;  // for rx_, oldest first
  std::size_t backlog_bytes_ = 0;
  bool rx_blocked_ = false;  // during add_polls: slirp's sockets are polled without POLLIN
  std::vector<std::unique_ptr<Timer>> timers_;
  std::vector<std::byte> tx_buffer_;
  std::vector<pollfd>* fill_fds_ = nullptr;  // during add_polls
  std::size_t fill_base_ = 0;
  std::span<const pollfd> polled_;            // during service
  std::size_t registered_sockets_ = 0;        // opened by slirp and not yet closed
  std::size_t polled_sockets_ = 0;            // in the last poll set
};

}  // namespace kxen::net
