// Memory a hostile guest can make the store hold (issue #12): transactions, refused requests,
// watch events at commit and node bytes are all bounded. Growth is measured as live heap bytes
// (glibc's mallinfo2, exact and deterministic in one thread), never as time.
#include <catch2/catch.hpp>

#include <malloc.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include "xen/xenstore/store.hpp"

using namespace kxen::xenstore;

namespace {

constexpr long kKiB = 1024;

// Live heap bytes; 0 under sanitizers that replace malloc (the checks then pass trivially).
long heap_in_use() { return static_cast<long>(mallinfo2().uordblks); }

struct Guest {
  XenStore& store;
  ConnId id;
  std::vector<std::string> events;  // "path|token"
  explicit Guest(XenStore& s, DomId domid = 1)
      : store(s), id(s.connect(domid, [this](std::string_view p, std::string_view t) {
          events.push_back(std::string(p) + "|" + std::string(t));
        })) {}
  ~Guest() { store.disconnect(id); }
  Request req(TxId tx = 0) const { return Request{id, tx}; }
  Result<void> write(std::string_view path, std::string_view value, TxId tx = 0) {
    Deliveries out;
    auto r = store.write(req(tx), path, value, out);
    XenStore::deliver(out);
    return r;
  }
  Result<void> rm(std::string_view path, TxId tx = 0) {
    Deliveries out;
    auto r = store.rm(req(tx), path, out);
    XenStore::deliver(out);
    return r;
  }
  Result<void> watch(std::string_view path, std::string_view token) {
    Deliveries out;
    auto r = store.watch(req(), path, token, out);
    XenStore::deliver(out);
    return r;
  }
};

// /local/domain/<domid>/data, owned by the guest, as the toolstack would make it.
void make_domain(XenStore& store, DomId domid) {
  const std::string home = domain_path(domid);
  const std::string id = std::to_string(domid);
  REQUIRE(store.mkdir(home));
  REQUIRE(store.set_perms(home, *parse_perms({"n0", "r" + id})));
  REQUIRE(store.mkdir(home + "/data"));
  REQUIRE(store.set_perms(home + "/data", *parse_perms({"n" + id})));
}

std::size_t event_bytes(const Deliveries& out) {
  std::size_t bytes = 0;
  for (const auto& d : out) bytes += sizeof(Delivery) + d.path.size() + d.token.size();
  return bytes;
}

}  // namespace

TEST_CASE("xenstore a transaction writing one node again and again holds one change", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  Guest guest(store);
  REQUIRE(guest.watch("data/x", "tok"));
  guest.events.clear();
  const TxId tx = store.transaction_start(guest.req()).value();
  REQUIRE(guest.write("data/x", "first", tx));
  const long before = heap_in_use();
  int failed = 0;
  for (int i = 0; i < 100000; ++i) failed += guest.write("data/x", std::to_string(i % 10), tx) ? 0 : 1;
  CHECK(failed == 0);
  CHECK(heap_in_use() - before < 64 * kKiB);
  const auto usage = store.transaction_usage(guest.req(tx)).value();
  CHECK(usage.changes == 1);
  CHECK(usage.bytes < 1 * kKiB);
  Deliveries out;
  REQUIRE(store.transaction_end(guest.req(tx), true, out));
  XenStore::deliver(out);
  CHECK(guest.events == std::vector<std::string>{"data/x|tok"});  // one event for one node
  CHECK(store.read("/local/domain/1/data/x") == "9");
}

TEST_CASE("xenstore requests refused with ENOSPC in a transaction record nothing", "[xenstore]") {
  Quota quota;
  quota.max_transaction_nodes = 64;
  XenStore store(quota);
  make_domain(store, 1);
  Guest guest(store);
  const TxId tx = store.transaction_start(guest.req()).value();
  int refused = 0;
  long at_first_refusal = 0;
  TransactionUsage recorded;
  for (int i = 0; i < 100000; ++i) {
    const std::string path = "data/n" + std::to_string(i);
    auto written = guest.write(path, "v", tx);
    auto removed = guest.rm(path, tx);
    if (written) continue;
    CHECK(written.error() == ENOSPC);
    CHECK(removed.error() == ENOSPC);
    if (refused++ > 0) continue;
    at_first_refusal = heap_in_use();
    recorded = store.transaction_usage(guest.req(tx)).value();
  }
  CHECK(refused > 99000);
  CHECK(heap_in_use() - at_first_refusal < 64 * kKiB);
  const auto usage = store.transaction_usage(guest.req(tx)).value();
  CHECK(usage.bytes == recorded.bytes);  // the overflowing request freed it all: both are 0
  CHECK(usage.nodes == recorded.nodes);
  CHECK(usage.changes == recorded.changes);
  Deliveries out;
  CHECK(store.transaction_end(guest.req(tx), true, out).error() == ENOSPC);
  CHECK(out.empty());
}

TEST_CASE("xenstore a value over the quota is refused before the transaction records it", "[xenstore]") {
  Quota quota;
  quota.max_value = 100;
  XenStore store(quota);
  make_domain(store, 1);
  Guest guest(store);
  const TxId tx = store.transaction_start(guest.req()).value();
  REQUIRE(guest.write("data/a", "small", tx));
  const auto before = store.transaction_usage(guest.req(tx)).value();
  for (int i = 0; i < 1000; ++i) CHECK(guest.write("data/big" + std::to_string(i), std::string(200, 'v'), tx).error() == ENOSPC);
  const auto after = store.transaction_usage(guest.req(tx)).value();
  CHECK(after.bytes == before.bytes);
  CHECK(after.nodes == before.nodes);
  Deliveries out;
  REQUIRE(store.transaction_end(guest.req(tx), true, out));  // still usable: nothing was doomed
  CHECK(store.read("/local/domain/1/data/a") == "small");
}

TEST_CASE("xenstore a commit's watch events for one connection are bounded", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  Guest guest(store);
  const std::string pad(64, 't');
  for (int w = 0; w < 128; ++w) REQUIRE(guest.watch("data", pad + std::to_string(w)));
  const TxId tx = store.transaction_start(guest.req()).value();
  for (int i = 0; i < 500; ++i) REQUIRE(guest.write("data/n" + std::to_string(i), "v", tx));
  Deliveries out;
  REQUIRE(store.transaction_end(guest.req(tx), true, out));
  CHECK(out.size() > 0);
  CHECK(event_bytes(out) <= 256 * kKiB);  // 500 x 128 events would take about 11 MiB
  CHECK(store.read("/local/domain/1/data/n499") == "v");
}

TEST_CASE("xenstore dom0's own commits still reach every dom0 watch", "[xenstore]") {
  XenStore store;
  int fired = 0;
  for (int w = 0; w < 16; ++w) REQUIRE(store.watch("/big", [&](std::string_view) { ++fired; }));
  fired = 0;
  const TxId tx = store.transaction_start().value();
  for (int i = 0; i < 2000; ++i) REQUIRE(store.write("/big/n" + std::to_string(i), std::string(100, 'v'), tx));
  REQUIRE(store.transaction_end(tx, true));
  CHECK(fired == 2000 * 16);  // dom0 is exempt
}

TEST_CASE("xenstore a domain's node bytes are bounded", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  Guest guest(store);
  const std::string value(4096, 'v');
  int stored = 0;
  for (int i = 0; i < 1000; ++i) {
    auto r = guest.write("data/n" + std::to_string(i), value);
    if (!r) {
      CHECK(r.error() == ENOSPC);
      break;
    }
    ++stored;
  }
  CHECK(stored > 100);
  CHECK(stored * 4096L <= 2 * 1024 * kKiB);  // 1000 x 4 KiB would be about 4 MiB
  CHECK(store.write("/local/domain/1/data/dom0", value));  // dom0 is exempt
}

TEST_CASE("xenstore a transaction's bytes are bounded", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  Guest guest(store);
  const std::string value(4096, 'v');
  const TxId tx = store.transaction_start(guest.req()).value();
  int stored = 0;
  for (int i = 0; i < 400; ++i) {
    auto r = guest.write("data/n" + std::to_string(i), value, tx);
    if (!r) {
      CHECK(r.error() == ENOSPC);
      break;
    }
    ++stored;
  }
  CHECK(stored > 10);
  CHECK(stored * 4096L <= 256 * kKiB);  // ten such transactions stay within a few MiB
  CHECK(store.transaction_usage(guest.req(tx))->bytes == 0);  // the refused write freed it
  Deliveries out;
  CHECK(store.transaction_end(guest.req(tx), true, out).error() == ENOSPC);
}

TEST_CASE("xenstore merged transaction changes still fire the watches each change would", "[xenstore]") {
  XenStore store;
  make_domain(store, 1);
  Guest guest(store);
  REQUIRE(guest.watch("data", "parent"));
  REQUIRE(guest.watch("/local/domain/0", "dom0"));
  REQUIRE(store.write("/local/domain/0/open", "x"));
  REQUIRE(store.set_perms("/local/domain/0/open", *parse_perms({"n0", "r1"})));
  guest.events.clear();
  SECTION("a removed child written again fires its ancestors' watches") {
    const TxId tx = store.transaction_start(guest.req()).value();
    REQUIRE(guest.write("data/d/x", "1", tx));
    REQUIRE(guest.rm("data/d", tx));  // x alone is an exact change now
    REQUIRE(guest.write("data/d/x", "2", tx));
    Deliveries out;
    REQUIRE(store.transaction_end(guest.req(tx), true, out));
    XenStore::deliver(out);
    CHECK(guest.events == std::vector<std::string>{"data/d/x|parent", "data/d|parent"});
  }
  SECTION("perms before and after the transaction decide who hears of it") {
    const TxId tx = store.transaction_start().value();
    REQUIRE(store.write("/local/domain/0/hidden", "x", tx));  // n0 when created, readable at commit
    REQUIRE(store.set_perms("/local/domain/0/hidden", *parse_perms({"n0", "r1"}), tx));
    REQUIRE(store.write("/local/domain/0/open", "y", tx));  // readable before, hidden at commit
    REQUIRE(store.set_perms("/local/domain/0/open", *parse_perms({"n0"}), tx));
    REQUIRE(store.write("/local/domain/0/private", "z", tx));  // never readable
    REQUIRE(store.transaction_end(tx, true));
    CHECK(guest.events == std::vector<std::string>{"/local/domain/0/hidden|dom0", "/local/domain/0/open|dom0"});
  }
}
