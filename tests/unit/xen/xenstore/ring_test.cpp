// The ring transport over a fake guest page in real GuestMemory.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kxen/guest_memory.hpp"
#include "xen/xenstore/ring.hpp"
#include "xs_test_util.hpp"

using namespace kxen::xenstore;
using namespace kxen::xenstore::test;

namespace {

// The guest's half of the ring, driven by hand.
struct FakeGuest {
  kxen::GuestMemory memory;
  xenstore_domain_interface* intf = nullptr;
  std::string received;  // response stream not yet split into messages

  FakeGuest() {
    REQUIRE_FALSE(memory.add_ram(0x10000, kxen::kPageSize));
    intf = reinterpret_cast<xenstore_domain_interface*>(memory.span(0x10000, kxen::kPageSize)->data());
  }
  std::span<std::byte> page() { return *memory.span(0x10000, kxen::kPageSize); }

  void start_at(std::uint32_t index) {
    intf->req_cons = intf->req_prod = intf->rsp_cons = intf->rsp_prod = index;
  }
  void send(std::string_view bytes) {
    REQUIRE(bytes.size() <= XENSTORE_RING_SIZE - (intf->req_prod - intf->req_cons));
    for (char c : bytes) intf->req[MASK_XENSTORE_IDX(intf->req_prod++)] = c;
  }
  void consume() {
    while (intf->rsp_cons != intf->rsp_prod) received += intf->rsp[MASK_XENSTORE_IDX(intf->rsp_cons++)];
  }
  // Complete messages received so far.
  std::vector<Reply> replies() {
    consume();
    std::vector<Reply> out;
    while (received.size() >= sizeof(xsd_sockmsg)) {
      Reply r = decode(received);
      const std::size_t total = sizeof(xsd_sockmsg) + r.header.len;
      if (received.size() < total) break;
      r.payload.resize(r.header.len);
      out.push_back(r);
      received.erase(0, total);
    }
    return out;
  }
};

struct RingFixture {
  XenStore store;
  FakeGuest guest;
  std::atomic<int> notified{0};
  std::unique_ptr<XenStoreRing> ring;
  RingFixture() {
    REQUIRE(store.mkdir("/local/domain/1"));
    REQUIRE(store.set_perms("/local/domain/1", *parse_perms({"n1"})));
    auto created = XenStoreRing::create(store, 1, guest.page(), [this] { ++notified; });
    REQUIRE(created);
    ring = std::move(*created);
  }
};

std::string request(std::uint32_t type, std::string_view payload, std::uint32_t req_id = 1, std::uint32_t tx = 0) {
  return encode_message(type, req_id, tx, payload);
}

}  // namespace

TEST_CASE("xenstore ring answers a request and advertises its features", "[xenstore]") {
  RingFixture f;
  CHECK(f.guest.intf->server_features == (XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR));
  CHECK_FALSE(f.ring->process());  // nothing to do
  f.guest.send(request(XS_WRITE, "k\0v"s, 7));
  CHECK(f.ring->process());
  CHECK(f.guest.intf->req_cons == f.guest.intf->req_prod);
  auto replies = f.guest.replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].header.type == XS_WRITE);
  CHECK(replies[0].header.req_id == 7);
  CHECK(replies[0].payload == "OK\0"s);
  CHECK(f.store.read("/local/domain/1/k") == "v");
}

TEST_CASE("xenstore ring handles index wrap-around in both rings", "[xenstore]") {
  RingFixture f;
  f.guest.start_at(0xfffffff0u - 3);  // near both the 1 KiB and the 2^32 boundary
  for (int i = 0; i < 40; ++i) {
    const std::string value(static_cast<std::size_t>(20 + i * 7), static_cast<char>('a' + i % 26));
    f.guest.send(request(XS_WRITE, "k\0"s + value, static_cast<std::uint32_t>(i)));
    REQUIRE(f.ring->process());
    f.guest.send(request(XS_READ, "k\0"s, 1000u + static_cast<std::uint32_t>(i)));
    REQUIRE(f.ring->process());
    auto replies = f.guest.replies();
    REQUIRE(replies.size() == 2);
    CHECK(replies[1].header.req_id == 1000u + static_cast<std::uint32_t>(i));
    CHECK(replies[1].payload == value);
  }
  CHECK(f.guest.intf->req_prod < 0x100000);  // really wrapped past 2^32
}

TEST_CASE("xenstore ring assembles messages sent in pieces", "[xenstore]") {
  RingFixture f;
  const std::string msg = request(XS_WRITE, "piece\0meal"s, 9);
  f.guest.send(msg.substr(0, 7));  // half a header
  CHECK(f.ring->process());        // consumed, nothing to answer yet
  CHECK(f.guest.replies().empty());
  f.guest.send(msg.substr(7, 15));
  CHECK(f.ring->process());
  CHECK(f.guest.replies().empty());
  f.guest.send(msg.substr(22));
  CHECK(f.ring->process());
  auto replies = f.guest.replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].header.req_id == 9);
  CHECK(f.store.read("/local/domain/1/piece") == "meal");
}

TEST_CASE("xenstore ring handles several messages per notification", "[xenstore]") {
  RingFixture f;
  std::string batch;
  for (std::uint32_t i = 0; i < 10; ++i) batch += request(XS_WRITE, "n" + std::to_string(i) + '\0' + "v", i);
  f.guest.send(batch);
  CHECK(f.ring->process());
  auto replies = f.guest.replies();
  REQUIRE(replies.size() == 10);
  for (std::uint32_t i = 0; i < 10; ++i) CHECK(replies[i].header.req_id == i);
}

TEST_CASE("xenstore ring queues output the guest has no room for", "[xenstore]") {
  RingFixture f;
  const std::string big(900, 'x');
  REQUIRE(f.store.write("/local/domain/1/big", big));
  f.guest.send(request(XS_READ, "big\0"s, 1) + request(XS_READ, "big\0"s, 2) + request(XS_READ, "big\0"s, 3));
  CHECK(f.ring->process());
  CHECK(f.guest.intf->rsp_prod - f.guest.intf->rsp_cons == XENSTORE_RING_SIZE);  // full, rest queued
  std::vector<Reply> replies;
  for (int round = 0; round < 10 && replies.size() < 3; ++round) {
    auto got = f.guest.replies();
    replies.insert(replies.end(), got.begin(), got.end());
    f.ring->process();  // the guest's notification after consuming
  }
  REQUIRE(replies.size() == 3);
  for (std::uint32_t i = 0; i < 3; ++i) {
    CHECK(replies[i].header.req_id == i + 1);
    CHECK(replies[i].payload == big);
  }
}

TEST_CASE("xenstore ring stops on a bad request index until reconnect", "[xenstore]") {
  RingFixture f;
  f.guest.intf->req_prod = f.guest.intf->req_cons + XENSTORE_RING_SIZE + 1;
  f.ring->process();
  CHECK(f.ring->broken());
  CHECK(f.guest.intf->error == XENSTORE_ERROR_RINGIDX);
  CHECK(f.guest.replies().empty());
  f.guest.intf->connection = XENSTORE_RECONNECT;
  CHECK(f.ring->process());
  CHECK(f.guest.intf->connection == XENSTORE_CONNECTED);
  CHECK(f.guest.intf->error == XENSTORE_ERROR_NONE);
  CHECK(f.guest.intf->req_prod == 0);
  CHECK_FALSE(f.ring->broken());
  f.guest.send(request(XS_READ, "/local/domain/1\0"s, 5));
  CHECK(f.ring->process());
  REQUIRE(f.guest.replies().size() == 1);
}

TEST_CASE("xenstore ring stops on a bad response index", "[xenstore]") {
  RingFixture f;
  f.guest.intf->rsp_cons = f.guest.intf->rsp_prod + 5;  // "consumed" more than was produced
  f.guest.send(request(XS_READ, "/local/domain/1\0"s));
  f.ring->process();
  CHECK(f.ring->broken());
  CHECK(f.guest.intf->error == XENSTORE_ERROR_RINGIDX);
}

TEST_CASE("xenstore ring rejects oversized messages and drops the connection state", "[xenstore]") {
  RingFixture f;
  f.guest.send(request(XS_WATCH, "/local/domain/1\0w\0"s));
  REQUIRE(f.ring->process());
  REQUIRE(f.guest.replies().size() == 2);  // OK and the initial event
  xsd_sockmsg header{XS_WRITE, 1, 0, XENSTORE_PAYLOAD_MAX + 1};
  f.guest.send(std::string_view(reinterpret_cast<const char*>(&header), sizeof(header)));
  f.ring->process();
  CHECK(f.ring->broken());
  CHECK(f.guest.intf->error == XENSTORE_ERROR_PROTO);
  REQUIRE(f.store.write("/local/domain/1/x", "1"));
  CHECK(f.guest.replies().empty());  // watch discarded, nothing written
  f.guest.intf->connection = XENSTORE_RECONNECT;
  f.ring->process();
  REQUIRE(f.store.write("/local/domain/1/y", "1"));
  CHECK(f.guest.replies().empty());  // still no watch after the reconnect
}

TEST_CASE("xenstore ring delivers watch events from other threads with a notification", "[xenstore][threads]") {
  RingFixture f;
  f.guest.send(request(XS_WATCH, "device\0dev\0"s, 3));
  REQUIRE(f.ring->process());
  auto replies = f.guest.replies();
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].header.type == XS_WATCH);  // the reply comes before the initial event
  CHECK(replies[1].header.type == XS_WATCH_EVENT);
  CHECK(replies[1].payload == "device\0dev\0"s);
  const int before = f.notified.load();
  std::thread backend([&] { REQUIRE(f.store.write("/local/domain/1/device/vbd/51712/state", "1")); });
  backend.join();
  CHECK(f.notified.load() == before + 1);
  replies = f.guest.replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].payload == "device/vbd/51712/state\0dev\0"s);
}

TEST_CASE("xenstore ring reconnect discards watches and queued output", "[xenstore]") {
  RingFixture f;
  f.guest.send(request(XS_WATCH, "w\0t\0"s));
  REQUIRE(f.ring->process());
  f.guest.intf->connection = XENSTORE_RECONNECT;
  CHECK(f.ring->process());
  CHECK(f.guest.intf->rsp_prod == 0);
  f.guest.received.clear();
  REQUIRE(f.store.write("/local/domain/1/w", "1"));
  CHECK(f.guest.replies().empty());
}

TEST_CASE("xenstore ring rejects an unusable page", "[xenstore]") {
  XenStore store;
  std::vector<std::byte> small(100);
  CHECK_FALSE(XenStoreRing::create(store, 1, small, {}).has_value());
}

TEST_CASE("xenstore ring queues a bounded amount however many events one commit raises", "[xenstore]") {
  RingFixture f;
  std::uint32_t req_id = 0;
  auto call = [&](std::uint32_t type, std::string_view payload, std::uint32_t tx = 0) {
    f.guest.send(request(type, payload, ++req_id, tx));
    f.ring->process();
    for (int round = 0; round < 100 && f.ring->queued_bytes() > 0; ++round) {
      f.guest.replies();
      f.ring->process();
    }
    for (auto& r : f.guest.replies())
      if (r.header.req_id == req_id) return r;
    return Reply{};
  };
  const std::string token(200, 't');
  for (int w = 0; w < 128; ++w) REQUIRE(call(XS_WATCH, "d\0"s + token + std::to_string(w) + '\0').header.type == XS_WATCH);
  const auto started = call(XS_TRANSACTION_START, "\0"s);
  REQUIRE(started.header.type == XS_TRANSACTION_START);
  const auto tx = static_cast<std::uint32_t>(std::stoul(started.payload));
  for (int i = 0; i < 200; ++i)
    REQUIRE(call(XS_WRITE, "d/n" + std::to_string(i) + '\0' + "v", tx).header.type == XS_WRITE);
  // The guest stops reading: 200 changes x 128 watches would be 5.8 MB of events.
  f.guest.send(request(XS_TRANSACTION_END, "T\0"s, ++req_id, tx));
  f.ring->process();
  CHECK(f.ring->queued_bytes() <= 256 * 1024 + XENSTORE_PAYLOAD_MAX + sizeof(xsd_sockmsg));
  CHECK(f.store.read("/local/domain/1/d/n199") == "v");
  const auto after = f.guest.replies();
  REQUIRE(after.size() > 1);
  CHECK(after[0].header.type == XS_TRANSACTION_END);  // the reply comes before its events
  CHECK(after[1].header.type == XS_WATCH_EVENT);
}

TEST_CASE("xenstore ring: a kick while another thread serves the ring returns at once, and its request is served",
          "[xenstore][threads]") {
  RingFixture f;
  std::atomic<bool> armed{false}, inner_returned{false}, inner_result{true};
  std::thread inner;
  // The in-process watch runs inside process(), on the serving thread: the ring is busy then.
  const auto id = f.store.watch("/local/domain/1/trigger", [&](std::string_view) {
    if (!armed.exchange(false)) return;
    f.guest.send(request(XS_READ, "k\0"s, 42));
    inner = std::thread([&] {
      inner_result = f.ring->process();  // another vCPU's kick
      inner_returned = true;
    });
    for (int i = 0; i < 200 && !inner_returned; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  REQUIRE(id);
  armed = true;
  f.guest.send(request(XS_WRITE, "trigger\0x"s, 41));
  CHECK(f.ring->process());
  CHECK(inner_returned);       // it did not wait for the serving thread
  CHECK_FALSE(inner_result);   // and left its kick to it
  inner.join();
  const auto replies = f.guest.replies();
  REQUIRE(replies.size() == 2);  // the serving thread answered the kick it was handed
  CHECK(replies[0].header.req_id == 41);
  CHECK(replies[1].header.req_id == 42);
  f.store.unwatch(*id);
}
