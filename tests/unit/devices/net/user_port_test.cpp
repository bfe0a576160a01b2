// User mode (libslirp) as a queue's host port: a frame slirp answers inside send() (ARP for its
// gateway) reaches the attached receiver, or waits in a bounded backlog while it has no buffers.
#include <catch2/catch.hpp>

#include <poll.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <iterator>
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

// A UDP datagram from 10.0.2.15:`source_port` to 10.0.2.2:9 (the host's discard port).
std::vector<std::byte> udp_datagram(std::uint16_t source_port) {
  std::uint8_t f[46] = {0x52, 0x55, 10, 0, 2, 2, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
                        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 2, 15, 10, 0, 2, 2,
                        static_cast<std::uint8_t>(source_port >> 8), static_cast<std::uint8_t>(source_port), 0, 9,
                        0, 12, 0, 0, 'k', 'x', 'e', 'n'};
  std::uint32_t sum = 0;  // the IPv4 header checksum, which slirp verifies
  for (int i = 14; i < 34; i += 2) sum += static_cast<std::uint32_t>(f[i] << 8 | f[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f[24] = static_cast<std::uint8_t>(~sum >> 8);
  f[25] = static_cast<std::uint8_t>(~sum);
  std::vector<std::byte> out(sizeof f);
  std::memcpy(out.data(), f, sizeof f);
  return out;
}

std::size_t open_fds() {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                std::filesystem::directory_iterator{}));
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

TEST_CASE("user port: a guest opening flow after flow cannot take more than 256 host sockets", "[net]") {
  auto port = UserPort::open({}, 1500, kMac);
  REQUIRE(port);
  FakeReceiver rx;
  rx.has_buffers = true;
  (*port)->attach(&rx);
  const std::size_t before = open_fds();
  unsigned accepted = 0;
  for (std::uint16_t i = 0; i < 400; ++i) {  // each new source port is a new UDP socket in slirp
    auto datagram = udp_datagram(static_cast<std::uint16_t>(20000 + i));
    accepted += send(**port, datagram) ? 1 : 0;
  }
  CHECK(accepted == 256);
  CHECK(open_fds() - before <= 256);
  auto again = udp_datagram(20000);  // over the cap even an existing flow's datagram waits
  CHECK_FALSE(send(**port, again));
  auto arp = arp_request();  // frames that open no socket still pass
  CHECK(send(**port, arp));
  const bool answered = std::any_of(rx.frames.begin(), rx.frames.end(), [](const auto& f) {
    return f.size() >= 42 && std::to_integer<int>(f[12]) == 0x08 && std::to_integer<int>(f[13]) == 0x06 &&
           std::to_integer<int>(f[21]) == 2;
  });
  CHECK(answered);
  (*port)->attach(nullptr);
}
