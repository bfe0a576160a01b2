// The store: in-process API, per-node transaction conflicts and watches.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <thread>
#include <string>
#include <vector>

#include "xen/xenstore/store.hpp"

using namespace kxen::xenstore;

namespace {

struct Event {
  std::string path;
  std::string token;
  bool operator==(const Event&) const = default;
};

// A guest connection that records the watch events it is sent.
struct GuestConn {
  XenStore& store;
  std::vector<Event> events;
  ConnId id;
  explicit GuestConn(XenStore& s, DomId domid = 1)
      : store(s), id(s.connect(domid, [this](std::string_view p, std::string_view t) {
          events.push_back({std::string(p), std::string(t)});
        })) {}
  ~GuestConn() { store.disconnect(id); }
  Request req(TxId tx = 0) const { return Request{id, tx}; }
  Result<void> watch(std::string_view path, std::string_view token) {
    Deliveries out;
    auto r = store.watch(req(), path, token, out);
    XenStore::deliver(out);
    return r;
  }
  Result<void> write(std::string_view path, std::string_view value, TxId tx = 0) {
    Deliveries out;
    auto r = store.write(req(tx), path, value, out);
    XenStore::deliver(out);
    return r;
  }
};

}  // namespace

namespace Catch {
template <>
struct StringMaker<Event> {
  static std::string convert(const Event& e) { return e.path + "|" + e.token; }
};
}  // namespace Catch

namespace {

NodePerms perms(std::initializer_list<std::string_view> s) { return *parse_perms(s); }

void make_domain(XenStore& store, DomId domid) {
  const std::string home = domain_path(domid);
  REQUIRE(store.mkdir(home));
  REQUIRE(store.set_perms(home, perms({"n0", "r" + std::to_string(domid)})));
  REQUIRE(store.mkdir(home + "/data"));
  REQUIRE(store.set_perms(home + "/data", perms({"n" + std::to_string(domid)})));
}

}  // namespace

TEST_CASE("xenstore in-process API reads what it writes", "[xenstore]") {
  XenStore store;
  REQUIRE(store.write("/local/domain/0/backend/vbd/1/51712/state", "1"));
  CHECK(store.read("/local/domain/0/backend/vbd/1/51712/state") == "1");
  CHECK(store.directory("/local/domain/0/backend/vbd/1") == std::vector<std::string>{"51712"});
  CHECK(store.read("/nonexistent").error() == ENOENT);
  REQUIRE(store.rm("/local/domain/0/backend"));
  CHECK(store.read("/local/domain/0/backend/vbd").error() == ENOENT);
  CHECK(store.get_perms("/local").value() == perms({"n0"}));
}

TEST_CASE("xenstore relative paths resolve against the guest's home", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  GuestConn guest(store);
  REQUIRE(guest.write("data/x", "7"));
  CHECK(store.read("/local/domain/1/data/x") == "7");
  CHECK(store.read(guest.req(), "data/x") == "7");
  CHECK(store.read(guest.req(), "/local/domain/1/data/x") == "7");
}

TEST_CASE("xenstore transactions see their own writes and commit atomically", "[xenstore]") {
  XenStore store;
  auto tx = store.transaction_start().value();
  REQUIRE(store.write("/t/a", "1", tx));
  CHECK(store.read("/t/a", tx) == "1");
  CHECK(store.read("/t/a").error() == ENOENT);
  REQUIRE(store.transaction_end(tx, true));
  CHECK(store.read("/t/a") == "1");
  tx = store.transaction_start().value();
  REQUIRE(store.rm("/t", tx));
  REQUIRE(store.transaction_end(tx, false));  // abort
  CHECK(store.read("/t/a") == "1");
  CHECK(store.transaction_end(tx, true).error() == ENOENT);  // gone after end
  CHECK(store.read("/t/a", 999).error() == ENOENT);
}

TEST_CASE("xenstore transactions conflict per node, not per tree", "[xenstore]") {
  XenStore store;
  REQUIRE(store.write("/d/a", "0"));
  REQUIRE(store.write("/d/b", "0"));
  SECTION("different nodes both commit") {
    auto t1 = store.transaction_start().value();
    auto t2 = store.transaction_start().value();
    CHECK(store.read("/d/a", t1) == "0");
    REQUIRE(store.write("/d/a", "1", t1));
    CHECK(store.read("/d/b", t2) == "0");
    REQUIRE(store.write("/d/b", "2", t2));
    REQUIRE(store.transaction_end(t1, true));
    REQUIRE(store.transaction_end(t2, true));
    CHECK(store.read("/d/a") == "1");
    CHECK(store.read("/d/b") == "2");
  }
  SECTION("the same node fails the later commit with EAGAIN") {
    auto t1 = store.transaction_start().value();
    auto t2 = store.transaction_start().value();
    REQUIRE(store.write("/d/a", "1", t1));
    REQUIRE(store.write("/d/a", "2", t2));
    REQUIRE(store.transaction_end(t1, true));
    CHECK(store.transaction_end(t2, true).error() == EAGAIN);
    CHECK(store.read("/d/a") == "1");
  }
  SECTION("a node only read and then changed outside fails the commit") {
    auto t1 = store.transaction_start().value();
    CHECK(store.read("/d/a", t1) == "0");
    REQUIRE(store.write("/d/b", "x", t1));
    REQUIRE(store.write("/d/a", "outside"));
    CHECK(store.transaction_end(t1, true).error() == EAGAIN);
    CHECK(store.read("/d/b") == "0");
  }
  SECTION("a directory listing conflicts with a new child") {
    auto t1 = store.transaction_start().value();
    CHECK(store.directory("/d", t1)->size() == 2);
    REQUIRE(store.write("/e", "x", t1));
    REQUIRE(store.write("/d/c", "new"));
    CHECK(store.transaction_end(t1, true).error() == EAGAIN);
  }
  SECTION("a node read as missing conflicts when it appears") {
    auto t1 = store.transaction_start().value();
    CHECK(store.read("/d/z", t1).error() == ENOENT);
    REQUIRE(store.write("/e", "x", t1));
    REQUIRE(store.write("/d/z", "now"));
    CHECK(store.transaction_end(t1, true).error() == EAGAIN);
  }
  SECTION("unrelated changes elsewhere do not conflict") {
    auto t1 = store.transaction_start().value();
    REQUIRE(store.write("/d/a", "1", t1));
    REQUIRE(store.write("/elsewhere/x", "y"));
    REQUIRE(store.write("/d/b", "z"));
    CHECK(store.transaction_end(t1, true).has_value());
  }
}

TEST_CASE("xenstore guest transactions are limited and not nested", "[xenstore]") {
  Quota quota;
  quota.max_transactions = 2;
  XenStore store(quota);
  GuestConn guest(store);
  auto t1 = store.transaction_start(guest.req());
  REQUIRE(t1);
  REQUIRE(store.transaction_start(guest.req()));
  CHECK(store.transaction_start(guest.req()).error() == ENOSPC);
  CHECK(store.transaction_start(guest.req(*t1)).error() == EBUSY);
  CHECK(store.transaction_start(guest.req(777)).error() == ENOENT);
  REQUIRE(store.reset_watches(guest.req()));  // drops transactions too
  CHECK(store.read(guest.req(*t1), "/").error() == ENOENT);
}

TEST_CASE("xenstore watches fire on registration and on changes at or below", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  GuestConn guest(store);
  REQUIRE(guest.watch("data", "tok"));
  REQUIRE(guest.events == std::vector<Event>{{"data", "tok"}});  // relative watch, relative event
  guest.events.clear();
  REQUIRE(store.write("/local/domain/1/data/x/y", "1"));
  REQUIRE(store.write("/local/domain/1/datax", "1"));  // sibling with a common prefix: no event
  REQUIRE(store.set_perms("/local/domain/1/data/x", perms({"n1"})));
  REQUIRE(store.rm("/local/domain/1/data/x"));
  // rm reports the removed root to watches above it; removed children only to their own watches.
  CHECK(guest.events == std::vector<Event>{{"data/x/y", "tok"}, {"data/x", "tok"}, {"data/x", "tok"}});
  CHECK(guest.watch("data", "tok").error() == EEXIST);
  Deliveries none;
  REQUIRE(store.unwatch(guest.req(), "data", "tok"));
  CHECK(store.unwatch(guest.req(), "data", "tok").error() == ENOENT);
  guest.events.clear();
  REQUIRE(store.write("/local/domain/1/data/q", "1"));
  CHECK(guest.events.empty());
}

TEST_CASE("xenstore removing a parent fires watches on removed children", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  REQUIRE(store.write("/local/domain/1/data/dev/0/state", "4"));
  GuestConn guest(store);
  REQUIRE(guest.watch("/local/domain/1/data/dev/0/state", "s"));
  guest.events.clear();
  REQUIRE(store.rm("/local/domain/1/data/dev"));
  CHECK(guest.events == std::vector<Event>{{"/local/domain/1/data/dev/0/state", "s"}});
}

TEST_CASE("xenstore watch events respect read permission", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  GuestConn guest(store);
  REQUIRE(guest.watch("/local/domain/0", "t"));
  REQUIRE(guest.watch("/tool/secret", "t2"));
  guest.events.clear();
  REQUIRE(store.write("/local/domain/0/private", "x"));  // n0 parent and node: invisible
  REQUIRE(store.write("/tool/secret", "x"));
  CHECK(guest.events.empty());
  REQUIRE(store.write("/local/domain/0/shared", "x"));
  REQUIRE(store.set_perms("/local/domain/0/shared", perms({"n0", "r1"})));  // now readable
  CHECK(guest.events == std::vector<Event>{{"/local/domain/0/shared", "t"}});
}

TEST_CASE("xenstore transaction writes fire watches at commit only", "[xenstore]") {
  XenStore store;
  std::vector<std::string> seen;
  auto id = store.watch("/w", [&](std::string_view p) { seen.emplace_back(p); });
  REQUIRE(id);
  CHECK(seen == std::vector<std::string>{"/w"});
  seen.clear();
  auto tx = store.transaction_start().value();
  REQUIRE(store.write("/w/a", "1", tx));
  CHECK(seen.empty());
  REQUIRE(store.transaction_end(tx, true));
  CHECK(seen == std::vector<std::string>{"/w/a"});
  tx = store.transaction_start().value();
  REQUIRE(store.write("/w/b", "1", tx));
  REQUIRE(store.transaction_end(tx, false));
  CHECK(seen.size() == 1);
  store.unwatch(*id);
  REQUIRE(store.write("/w/c", "1"));
  CHECK(seen.size() == 1);
}

TEST_CASE("xenstore special watches fire on domain introduction and release", "[xenstore]") {
  XenStore store;
  std::vector<std::string> seen;
  REQUIRE(store.watch("@introduceDomain", [&](std::string_view p) { seen.emplace_back(p); }));
  REQUIRE(store.watch("@releaseDomain", [&](std::string_view p) { seen.emplace_back(p); }));
  GuestConn guest(store);
  REQUIRE(guest.watch("@releaseDomain", "r"));
  seen.clear();
  guest.events.clear();
  store.introduce_domain(3);
  CHECK(store.is_domain_introduced(3));
  store.release_domain(3);
  CHECK_FALSE(store.is_domain_introduced(3));
  CHECK(seen == std::vector<std::string>{"@introduceDomain", "@releaseDomain"});
  CHECK(guest.events.empty());  // "@releaseDomain" is n0 by default
  REQUIRE(store.set_perms("@releaseDomain", perms({"n0", "r1"})));
  CHECK(guest.events == std::vector<Event>{{"@releaseDomain", "r"}});  // a perms change is a change
  guest.events.clear();
  store.introduce_domain(4);
  store.release_domain(4);
  CHECK(guest.events == std::vector<Event>{{"@releaseDomain", "r"}});
}

TEST_CASE("xenstore watch quota and reset", "[xenstore]") {
  Quota quota;
  quota.max_watches = 2;
  XenStore store(quota);
  GuestConn guest(store);
  REQUIRE(guest.watch("/a", "1"));
  REQUIRE(guest.watch("/b", "1"));
  CHECK(guest.watch("/c", "1").error() == E2BIG);
  REQUIRE(store.reset_watches(guest.req()));
  REQUIRE(guest.watch("/c", "1"));
  guest.events.clear();
  REQUIRE(store.write("/a", "x"));
  CHECK(guest.events.empty());
}

TEST_CASE("xenstore callbacks may call back into the store", "[xenstore]") {
  XenStore store;
  std::string copied;
  REQUIRE(store.watch("/src", [&](std::string_view) {
    if (auto v = store.read("/src")) copied = *v;
  }));
  REQUIRE(store.write("/src", "hello"));
  CHECK(copied == "hello");
}

TEST_CASE("xenstore guest transactions may touch a bounded number of nodes", "[xenstore]") {
  Quota quota;
  quota.max_transaction_nodes = 8;
  XenStore store(quota);
  make_domain(store, 1);
  GuestConn guest(store);
  const TxId tx = store.transaction_start(guest.req()).value();
  int first_failure = -1;
  for (int i = 0; i < 20 && first_failure < 0; ++i) {
    auto r = store.read(guest.req(tx), "data/missing" + std::to_string(i));
    if (!r && r.error() == ENOSPC) first_failure = i;
  }
  CHECK(first_failure > 0);
  Deliveries out;
  CHECK(store.transaction_end(guest.req(tx), true, out).error() == ENOSPC);
  const TxId dom0_tx = store.transaction_start().value();  // dom0 is not limited
  for (int i = 0; i < 20; ++i) CHECK(store.read("/missing" + std::to_string(i), dom0_tx).error() == ENOENT);
  CHECK(store.transaction_end(dom0_tx, true).has_value());
}

TEST_CASE("xenstore is safe to use from several threads", "[xenstore][threads]") {
  XenStore store;
  std::atomic<int> fired{0};
  REQUIRE(store.watch("/mt", [&](std::string_view p) {
    if (p != "/mt") (void)store.read(p);  // callbacks may re-enter
    ++fired;
  }));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string path = "/mt/" + std::to_string(t) + "/" + std::to_string(i % 10);
        (void)store.write(path, std::to_string(i));
        if (auto tx = store.transaction_start()) {
          (void)store.write(path, "tx", *tx);
          (void)store.transaction_end(*tx, (i % 2) == 0);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(store.directory("/mt")->size() == 4);
  CHECK(fired.load() > 800);
}
