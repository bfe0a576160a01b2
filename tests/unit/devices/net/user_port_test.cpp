// User mode (libslirp) as a queue's host port: a frame slirp answers inside send() (ARP for its
// gateway) reaches the attached receiver, or waits in a bounded backlog while it has no buffers.
#include <catch2/catch.hpp>

#include <poll.h>

#include <array>
#include <cstring>
#include <vector>

#include "net/user_port.hpp"

using namespace kxen::net;

namespace {

class FakeReceiver final : public HostPort::Receiver {
 public:
  bool has_buffers = false;
  unsigned drops = 0;
  std::vector<std::vector<std::byte>> frames;
  bool ready() override { return has_buffers; }
  std::span<const iovec> buffers() override { return {}; }
  void received(const VnetHeader&, std::size_t) override {}
  void received_copy(const VnetHeader&, std::span<const std::byte> frame) override {
    frames.emplace_back(frame.begin(), frame.end());
  }
  void dropped() override { ++drops; }
};

constexpr std::array<std::uint8_t, 6> kMac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

// An ARP who-has 10.0.2.2 (slirp's gateway) from 10.0.2.15.
std::vector<std::byte> arp_request() {
  const std::uint8_t f[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
                              0, 1, 8, 0, 6, 4, 0, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15,
                              0, 0, 0, 0, 0, 0, 10, 0, 2, 2};
  std::vector<std::byte> out(sizeof f);
  std::memcpy(out.data(), f, sizeof f);
  return out;
}

bool send(UserPort& port, std::vector<std::byte>& frame) {
  const iovec v{frame.data(), frame.size()};
  return port.send(VnetHeader{}, std::span(&v, 1));
}

}  // namespace

TEST_CASE("user port: slirp's ARP reply waits for rx buffers, then reaches the receiver", "[net]") {
  auto port = UserPort::open({HostForward{0, 80}}, 1500, kMac);  // a listening socket to poll
  REQUIRE(port);
  FakeReceiver rx;
  (*port)->attach(&rx);
  auto frame = arp_request();
  CHECK(send(**port, frame));
  CHECK(rx.drops == 0);
  CHECK(rx.frames.empty());  // held: no buffers posted
  std::vector<pollfd> fds;
  int timeout = -1;
  (*port)->add_polls(fds, timeout, false);
  REQUIRE_FALSE(fds.empty());
  for (const pollfd& fd : fds) CHECK((fd.events & POLLIN) == 0);  // host sockets wait too
  fds.clear();
  rx.has_buffers = true;
  (*port)->add_polls(fds, timeout, true);
  REQUIRE(fds.size() == 1);
  CHECK((fds[0].events & POLLIN) == 0);  // buffers, but the backlog goes first
  CHECK((*port)->service(fds, rx, 64));
  REQUIRE(rx.frames.size() == 1);
  fds.clear();
  (*port)->add_polls(fds, timeout, true);
  REQUIRE(fds.size() == 1);
  CHECK((fds[0].events & POLLIN) != 0);
  rx.has_buffers = false;
  CHECK(send(**port, frame));
  (*port)->attach(&rx);  // a reconnect: what was held for the old queue counts as dropped
  CHECK(rx.drops == 1);
  rx.has_buffers = true;
  CHECK(send(**port, frame));
  CHECK(rx.drops == 1);
  REQUIRE(rx.frames.size() == 2);
  for (const auto& reply : rx.frames) {
    REQUIRE(reply.size() >= 42);
    CHECK(std::memcmp(reply.data(), kMac.data(), kMac.size()) == 0);  // to the sender
    CHECK(std::to_integer<int>(reply[21]) == 2);                       // ARP reply
    CHECK(std::to_integer<int>(reply[31]) == 2);                       // from 10.0.2.2
  }
  (*port)->attach(nullptr);
}

TEST_CASE("user port: the backlog for a guest without rx buffers is bounded; the rest is dropped", "[net]") {
  auto port = UserPort::open({}, 1500, kMac);
  REQUIRE(port);
  FakeReceiver rx;
  (*port)->attach(&rx);
  auto frame = arp_request();
  constexpr unsigned kSent = 30000;  // replies of at least 42 bytes: more than the 1 MiB backlog
  for (unsigned i = 0; i < kSent; ++i) REQUIRE(send(**port, frame));
  CHECK(rx.drops > 0);
  CHECK(rx.frames.empty());
  rx.has_buffers = true;
  CHECK((*port)->service({}, rx, 64));
  CHECK(rx.frames.size() + rx.drops == kSent);
  CHECK(rx.frames.size() * 42 <= (1u << 20));
  (*port)->attach(nullptr);
}
