// The toolstack's per-domain nodes and their permissions, seen from dom0 and from the guest.
#include <catch2/catch.hpp>

#include <cerrno>

#include "xen/xenstore/domain_nodes.hpp"

using namespace kxen::xenstore;

namespace {

DomainNodes sample() {
  DomainNodes d;
  d.domid = 1;
  d.name = "guest";
  d.uuid = "00000000-0000-0000-0000-000000000001";
  d.vcpus = 2;
  d.target_kib = 524288;
  d.max_kib = 524288;
  d.store = RingNodes{0xfeffc, 1};
  d.console = RingNodes{0xfeffd, 2};
  return d;
}

NodePerms perms(std::initializer_list<std::string_view> s) { return *parse_perms(s); }

}  // namespace

TEST_CASE("xenstore domain nodes match what xl writes", "[xenstore]") {
  XenStore store;
  REQUIRE(write_domain_nodes(store, sample()));
  const std::string dom = "/local/domain/1";
  CHECK(store.read(dom + "/domid") == "1");
  CHECK(store.read(dom + "/name") == "guest");
  CHECK(store.read(dom + "/vm") == "/vm/00000000-0000-0000-0000-000000000001");
  CHECK(store.read(dom + "/memory/target") == "524288");
  CHECK(store.read(dom + "/memory/static-max") == "524288");
  CHECK(store.read(dom + "/cpu/0/availability") == "online");
  CHECK(store.read(dom + "/cpu/1/availability") == "online");
  CHECK(store.read(dom + "/cpu/2/availability").error() == ENOENT);
  CHECK(store.read(dom + "/store/ring-ref") == std::to_string(0xfeffc));
  CHECK(store.read(dom + "/store/port") == "1");
  CHECK(store.read(dom + "/console/ring-ref") == std::to_string(0xfeffd));
  CHECK(store.read(dom + "/console/port") == "2");
  CHECK(store.read(dom + "/console/type") == "xenconsoled");
  CHECK(store.read(dom + "/control/platform-feature-xs_reset_watches") == "1");
  CHECK(store.read("/vm/00000000-0000-0000-0000-000000000001/name") == "guest");
  CHECK(store.get_perms(dom) == perms({"n0", "r1"}));
  CHECK(store.get_perms(dom + "/control/shutdown") == perms({"n1"}));
  CHECK(store.get_perms(dom + "/data") == perms({"n1"}));
  CHECK(store.get_perms(dom + "/console/ring-ref") == perms({"n0", "r1"}));
  CHECK(store.get_perms(dom + "/memory/target") == perms({"n0", "r1"}));
}

TEST_CASE("xenstore domain nodes give the guest the access xl gives", "[xenstore]") {
  XenStore store;
  REQUIRE(write_domain_nodes(store, sample()));
  const ConnId guest = store.connect(1, [](std::string_view, std::string_view) {});
  Deliveries out;
  const Request req{guest, 0};
  CHECK(store.read(req, "name") == "guest");
  CHECK(store.read(req, "memory/target") == "524288");
  CHECK(store.write(req, "control/shutdown", "", out).has_value());       // the ack of a request
  CHECK(store.write(req, "control/feature-poweroff", "1", out).has_value());
  CHECK(store.write(req, "data/updated_dm", "1", out).has_value());
  // device/<type>/<id> is created by the device backend with frontend perms; not here.
  CHECK(store.write(req, "device/vbd/51712/state", "1", out).error() == EACCES);
  CHECK(store.write(req, "name", "evil", out).error() == EACCES);
  CHECK(store.write(req, "memory/target", "1", out).error() == EACCES);
  CHECK(store.write(req, "console/ring-ref", "1", out).error() == EACCES);
  CHECK(store.write(req, "console/tty", "/dev/pts/1", out).has_value());
  CHECK(store.read(req, "/local/domain/0").error() == EACCES);
  CHECK(store.read(req, "/vm/00000000-0000-0000-0000-000000000001/uuid").has_value());
  store.disconnect(guest);
}

TEST_CASE("xenstore domain nodes are rewritten cleanly and removed", "[xenstore]") {
  XenStore store;
  REQUIRE(write_domain_nodes(store, sample()));
  REQUIRE(store.write("/local/domain/1/data/stale", "x"));
  REQUIRE(write_domain_nodes(store, sample()));
  CHECK(store.read("/local/domain/1/data/stale").error() == ENOENT);
  std::vector<std::string> released;
  REQUIRE(store.watch("@releaseDomain", [&](std::string_view p) { released.emplace_back(p); }));
  store.introduce_domain(1);
  REQUIRE(remove_domain_nodes(store, 1, sample().uuid));
  CHECK(store.read("/local/domain/1").error() == ENOENT);
  CHECK(store.read("/vm/" + sample().uuid).error() == ENOENT);
  CHECK(released.size() == 2);  // the registration and the release
  DomainNodes bad = sample();
  bad.domid = 0;
  CHECK(write_domain_nodes(store, bad).error() == EINVAL);
}
