// Random hostile traffic: the store must answer or refuse, never crash, hang or corrupt its tree.
#include <catch2/catch.hpp>

#include <random>

#include "kxen/guest_memory.hpp"
#include "xen/xenstore/ring.hpp"
#include "xs_test_util.hpp"

using namespace kxen::xenstore;
using namespace kxen::xenstore::test;

namespace {

std::string random_payload(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {"/", "a", "data", "/local/domain/1", "@releaseDomain", "T", "F",
                                                  "n1", "r0", "b2", "0", "7", "..", "//", " ", "\n"};
  std::string out;
  const int parts = std::uniform_int_distribution<int>(0, 6)(rng);
  for (int i = 0; i < parts; ++i) {
    out += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
    if (std::bernoulli_distribution(0.6)(rng)) out += '\0';
  }
  if (std::bernoulli_distribution(0.05)(rng)) out += std::string(XENSTORE_PAYLOAD_MAX, 'z');
  return out;
}

// Every listed child exists, walking down from "/" as dom0.
void check_tree(XenStore& store, const std::string& path, int depth) {
  REQUIRE(depth < 64);
  auto children = store.directory(path);
  REQUIRE(children);
  for (const auto& c : *children) check_tree(store, path == "/" ? "/" + c : path + "/" + c, depth + 1);
}

}  // namespace

TEST_CASE("xenstore protocol survives random requests", "[xenstore]") {
  XenStore store;
  REQUIRE(store.mkdir("/local/domain/1"));
  REQUIRE(store.set_perms("/local/domain/1", *parse_perms({"n1"})));
  std::mt19937 rng(12345);
  Protocol guest(store, 1, [](std::string) {});
  for (int i = 0; i < 20000; ++i) {
    const auto type = std::uniform_int_distribution<std::uint32_t>(0, XS_TYPE_COUNT + 2)(rng);
    const auto tx = std::bernoulli_distribution(0.2)(rng) ? std::uniform_int_distribution<std::uint32_t>(0, 4)(rng) : 0;
    Deliveries out;
    const Reply r = decode(guest.handle_raw(encode_message(type, 1, tx, random_payload(rng)), out));
    XenStore::deliver(out);
    REQUIRE(r.header.len == r.payload.size());
    REQUIRE(r.payload.size() <= XENSTORE_PAYLOAD_MAX);
  }
  check_tree(store, "/", 0);
}

TEST_CASE("xenstore ring survives a guest scribbling on the page", "[xenstore]") {
  XenStore store;
  kxen::GuestMemory memory;
  REQUIRE_FALSE(memory.add_ram(0, kxen::kPageSize));
  auto page = *memory.span(0, kxen::kPageSize);
  auto ring = XenStoreRing::create(store, 1, page, [] {}).value();
  auto* intf = reinterpret_cast<xenstore_domain_interface*>(page.data());
  std::mt19937 rng(99);
  for (int i = 0; i < 5000; ++i) {
    auto byte = std::uniform_int_distribution<std::size_t>(0, sizeof(xenstore_domain_interface) - 1)(rng);
    page[byte] = static_cast<std::byte>(rng());
    if (std::bernoulli_distribution(0.1)(rng)) intf->req_prod = intf->req_cons + (rng() % 1100);
    if (std::bernoulli_distribution(0.05)(rng)) intf->connection = XENSTORE_RECONNECT;
    if (std::bernoulli_distribution(0.1)(rng)) intf->rsp_cons = intf->rsp_prod;
    ring->process();
  }
  check_tree(store, "/", 0);
}
