// Every request type through the wire protocol, from raw message bytes.
#include <catch2/catch.hpp>

#include <vector>

#include "xen/xenstore/protocol.hpp"
#include "xs_test_util.hpp"

using namespace kxen::xenstore;
using namespace kxen::xenstore::test;

namespace {

// A guest (or dom0) connection speaking raw messages.
struct Wire {
  std::vector<std::string> events;
  Protocol protocol;
  Wire(XenStore& store, DomId domid) : protocol(store, domid, [this](std::string m) { events.push_back(std::move(m)); }) {}

  Reply send(std::uint32_t type, std::string_view payload, std::uint32_t tx = 0, std::uint32_t req_id = 42) {
    Deliveries out;
    Reply r = decode(protocol.handle_raw(encode_message(type, req_id, tx, payload), out));
    XenStore::deliver(out);
    return r;
  }
  std::string ok(std::uint32_t type, std::string_view payload, std::uint32_t tx = 0) {
    Reply r = send(type, payload, tx);
    INFO("payload: " << r.payload);
    REQUIRE(r.header.type == type);
    return r.payload;
  }
  std::string err(std::uint32_t type, std::string_view payload, std::uint32_t tx = 0) {
    Reply r = send(type, payload, tx);
    REQUIRE(r.header.type == XS_ERROR);
    REQUIRE(!r.payload.empty());
    REQUIRE(r.payload.back() == '\0');
    return r.payload.substr(0, r.payload.size() - 1);
  }
};

const std::string kOk = "OK\0"s;

void make_guest_home(XenStore& store) {
  REQUIRE(store.mkdir("/local/domain/1"));
  REQUIRE(store.set_perms("/local/domain/1", *parse_perms({"n0", "r1"})));
  REQUIRE(store.mkdir("/local/domain/1/data"));
  REQUIRE(store.set_perms("/local/domain/1/data", *parse_perms({"n1"})));
}

}  // namespace

TEST_CASE("xenstore protocol replies echo ids and encode errors by name", "[xenstore]") {
  XenStore store;
  Wire guest(store, 1);
  Reply r = guest.send(XS_READ, "/nope\0"s, 0, 0x1234);
  CHECK(r.header.type == XS_ERROR);
  CHECK(r.header.req_id == 0x1234);
  CHECK(r.header.len == r.payload.size());
  CHECK(r.payload == "EACCES\0"s);  // "/" is n0: a guest learns nothing
  CHECK(error_name(ENOENT) == "ENOENT");
  CHECK(error_name(E2BIG) == "E2BIG");
  CHECK(error_name(12345) == "EINVAL");
}

TEST_CASE("xenstore protocol READ WRITE MKDIR RM DIRECTORY", "[xenstore]") {
  XenStore store;
  make_guest_home(store);
  Wire guest(store, 1);
  CHECK(guest.ok(XS_WRITE, "data/k\0v\0al"s) == kOk);  // value bytes after the path, NULs kept
  CHECK(guest.ok(XS_READ, "data/k\0"s) == "v\0al"s);
  CHECK(guest.ok(XS_WRITE, "data/empty\0"s) == kOk);
  CHECK(guest.ok(XS_READ, "/local/domain/1/data/empty\0"s).empty());
  CHECK(guest.ok(XS_MKDIR, "data/dir/sub\0"s) == kOk);
  CHECK(guest.ok(XS_DIRECTORY, "data\0"s) == "k\0empty\0dir\0"s);
  CHECK(guest.ok(XS_RM, "data/dir\0"s) == kOk);
  CHECK(guest.ok(XS_RM, "data/dir\0"s) == kOk);  // already gone, parent exists
  CHECK(guest.err(XS_RM, "data/dir/x\0"s) == "ENOENT");
  CHECK(guest.err(XS_READ, "data/dir\0"s) == "ENOENT");
  CHECK(guest.err(XS_WRITE, "/local/domain/1/name\0x"s) == "EACCES");
  CHECK(guest.ok(XS_DIRECTORY, "data/k\0"s).empty());
}

TEST_CASE("xenstore protocol GET_PERMS and SET_PERMS", "[xenstore]") {
  XenStore store;
  make_guest_home(store);
  Wire guest(store, 1);
  CHECK(guest.ok(XS_GET_PERMS, "/local/domain/1\0"s) == "n0\0r1\0"s);
  CHECK(guest.ok(XS_WRITE, "data/p\0x"s) == kOk);
  CHECK(guest.ok(XS_SET_PERMS, "data/p\0n1\0r0\0b2\0"s) == kOk);
  CHECK(guest.ok(XS_GET_PERMS, "data/p\0"s) == "n1\0r0\0b2\0"s);
  CHECK(guest.err(XS_SET_PERMS, "data/p\0n3\0"s) == "EPERM");
  CHECK(guest.err(XS_SET_PERMS, "data/p\0q1\0"s) == "EINVAL");
  CHECK(guest.err(XS_SET_PERMS, "data/p\0"s) == "EINVAL");
  CHECK(guest.err(XS_GET_PERMS, "@releaseDomain\0"s) == "EACCES");
  Wire dom0(store, 0);
  CHECK(dom0.ok(XS_GET_PERMS, "@releaseDomain\0"s) == "n0\0"s);
}

TEST_CASE("xenstore protocol DIRECTORY_PART returns the list in pieces", "[xenstore]") {
  XenStore store;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const std::string leaf = "child-with-a-long-name-" + std::to_string(i);
    REQUIRE(store.write("/big/" + leaf, ""));
    expected += leaf + '\0';
  }
  Wire dom0(store, 0);
  CHECK(dom0.err(XS_DIRECTORY, "/big\0"s) == "E2BIG");
  std::string all;
  std::string generation;
  for (int round = 0; round < 10; ++round) {
    const std::string reply = dom0.ok(XS_DIRECTORY_PART, "/big\0"s + std::to_string(all.size()) + '\0');
    const auto gen_end = reply.find('\0');
    if (round == 0) generation = reply.substr(0, gen_end);
    CHECK(reply.substr(0, gen_end) == generation);
    std::string chunk = reply.substr(gen_end + 1);
    if (chunk.size() >= 2 && chunk.ends_with("\0\0"s)) {
      all += chunk.substr(0, chunk.size() - 1);
      break;
    }
    REQUIRE(!chunk.empty());
    all += chunk;
  }
  CHECK(all == expected);
  CHECK(dom0.ok(XS_DIRECTORY_PART, "/big\0"s + "999999\0"s) == generation + "\0\0"s);
  CHECK(dom0.err(XS_DIRECTORY_PART, "/big\0x\0"s) == "EINVAL");
  CHECK(dom0.err(XS_DIRECTORY_PART, "/big\0"s) == "EINVAL");
}

TEST_CASE("xenstore protocol WATCH UNWATCH RESET_WATCHES and events", "[xenstore]") {
  XenStore store;
  make_guest_home(store);
  Wire guest(store, 1);
  CHECK(guest.ok(XS_WATCH, "data\0tok\0"s) == kOk);
  REQUIRE(guest.events.size() == 1);
  Reply ev = decode(guest.events[0]);
  CHECK(ev.header.type == XS_WATCH_EVENT);
  CHECK(ev.header.req_id == 0);
  CHECK(ev.payload == "data\0tok\0"s);
  REQUIRE(store.write("/local/domain/1/data/x", "1"));
  REQUIRE(guest.events.size() == 2);
  CHECK(decode(guest.events[1]).payload == "data/x\0tok\0"s);
  CHECK(guest.err(XS_WATCH, "data\0tok\0"s) == "EEXIST");
  CHECK(guest.err(XS_WATCH, "data\0"s) == "EINVAL");
  CHECK(guest.ok(XS_UNWATCH, "data\0tok\0"s) == kOk);
  CHECK(guest.err(XS_UNWATCH, "data\0tok\0"s) == "ENOENT");
  CHECK(guest.ok(XS_WATCH, "@introduceDomain\0i\0"s, 555) == kOk);  // tx_id ignored
  CHECK(guest.ok(XS_RESET_WATCHES, ""s) == kOk);
  guest.events.clear();
  REQUIRE(store.write("/local/domain/1/data/y", "1"));
  CHECK(guest.events.empty());
}

TEST_CASE("xenstore protocol transactions", "[xenstore]") {
  XenStore store;
  make_guest_home(store);
  Wire guest(store, 1);
  const std::string id_text = guest.ok(XS_TRANSACTION_START, "\0"s);
  REQUIRE(id_text.back() == '\0');
  const auto tx = static_cast<std::uint32_t>(std::stoul(id_text));
  CHECK(tx != 0);
  Reply r = guest.send(XS_WRITE, "data/t\0v"s, tx);
  CHECK(r.header.tx_id == tx);
  CHECK(guest.err(XS_READ, "data/t\0"s) == "ENOENT");
  CHECK(guest.ok(XS_READ, "data/t\0"s, tx) == "v");
  REQUIRE(store.write("/local/domain/1/data/t", "outside"));
  CHECK(guest.err(XS_TRANSACTION_END, "T\0"s, tx) == "EAGAIN");
  CHECK(guest.err(XS_TRANSACTION_END, "T\0"s, tx) == "ENOENT");
  const auto tx2 = static_cast<std::uint32_t>(std::stoul(guest.ok(XS_TRANSACTION_START, "\0"s)));
  CHECK(guest.ok(XS_WRITE, "data/t\0mine"s, tx2) == kOk);
  CHECK(guest.err(XS_TRANSACTION_END, "X\0"s, tx2) == "EINVAL");
  CHECK(guest.ok(XS_TRANSACTION_END, "T\0"s, tx2) == kOk);
  CHECK(store.read("/local/domain/1/data/t") == "mine");
  CHECK(guest.err(XS_READ, "data/t\0"s, 0xdead) == "ENOENT");
  CHECK(guest.err(XS_WRITE, "data/t\0x"s, 0xdead) == "ENOENT");
}

TEST_CASE("xenstore protocol domain requests", "[xenstore]") {
  XenStore store;
  Wire guest(store, 1);
  CHECK(guest.ok(XS_GET_DOMAIN_PATH, "1\0"s) == "/local/domain/1\0"s);
  CHECK(guest.ok(XS_GET_DOMAIN_PATH, "7\0"s) == "/local/domain/7\0"s);
  CHECK(guest.err(XS_GET_DOMAIN_PATH, "x\0"s) == "EINVAL");
  CHECK(guest.err(XS_GET_DOMAIN_PATH, "70000\0"s) == "EINVAL");
  for (auto type : {XS_INTRODUCE, XS_RELEASE, XS_IS_DOMAIN_INTRODUCED, XS_CONTROL, XS_RESUME, XS_SET_TARGET})
    CHECK(guest.err(type, "1\0"s) == "EACCES");
  Wire dom0(store, 0);
  CHECK(dom0.ok(XS_IS_DOMAIN_INTRODUCED, "5\0"s) == "F\0"s);
  CHECK(dom0.ok(XS_INTRODUCE, "5\0"s + "1234\0"s + "3\0"s) == kOk);
  CHECK(dom0.ok(XS_IS_DOMAIN_INTRODUCED, "5\0"s) == "T\0"s);
  CHECK(dom0.ok(XS_RELEASE, "5\0"s) == kOk);
  CHECK(dom0.ok(XS_IS_DOMAIN_INTRODUCED, "5\0"s) == "F\0"s);
  CHECK(dom0.err(XS_INTRODUCE, "5\0"s) == "EINVAL");
  CHECK(dom0.err(XS_CONTROL, "print\0hi\0"s) == "ENOSYS");
}

TEST_CASE("xenstore protocol survives hostile messages", "[xenstore]") {
  XenStore store;
  make_guest_home(store);
  Wire guest(store, 1);
  CHECK(guest.err(XS_READ, "data"s) == "EINVAL");             // no NUL
  CHECK(guest.err(XS_READ, "data\0x\0"s) == "EINVAL");        // two strings
  CHECK(guest.err(XS_READ, ""s) == "EINVAL");
  CHECK(guest.err(XS_WRITE, "data/x"s) == "EINVAL");          // no path terminator
  CHECK(guest.err(XS_READ, "da ta\0"s) == "EINVAL");
  CHECK(guest.err(999, "x\0"s) == "ENOSYS");
  CHECK(guest.err(XS_WATCH_EVENT, "x\0t\0"s) == "ENOSYS");
  CHECK(guest.err(XS_ERROR, "x\0"s) == "ENOSYS");
  CHECK(guest.err(XS_SET_TARGET + 1, "x\0"s) == "ENOSYS");   // the removed XS_RESTRICT
  CHECK(guest.err(XS_INVALID, ""s) == "ENOSYS");
  Deliveries out;
  CHECK(decode(guest.protocol.handle_raw("short", out)).payload == "EINVAL\0"s);
  std::string lying = encode_message(XS_READ, 1, 0, "data\0"s);
  lying.pop_back();  // header says 5 bytes, 4 follow
  CHECK(decode(guest.protocol.handle_raw(lying, out)).payload == "EINVAL\0"s);
  const std::string huge(XENSTORE_PAYLOAD_MAX + 1, 'a');
  CHECK(decode(guest.protocol.handle_raw(encode_message(XS_WRITE, 1, 0, huge), out)).payload == "E2BIG\0"s);
  CHECK(guest.ok(XS_READ, "/local/domain/1\0"s).empty());  // still serving
}
