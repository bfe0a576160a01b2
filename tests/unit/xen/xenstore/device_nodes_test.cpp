// Device frontend/backend node pairs and what each side may do with them.
#include <catch2/catch.hpp>

#include <cerrno>

#include "xen/xenstore/device_nodes.hpp"
#include "xen/xenstore/domain_nodes.hpp"

using namespace kxen::xenstore;

TEST_CASE("xenstore device nodes link frontend and backend with libxl's perms", "[xenstore]") {
  XenStore store;
  DomainNodes dom;
  dom.domid = 1;
  dom.name = "g";
  dom.uuid = "00000000-0000-0000-0000-000000000002";
  REQUIRE(write_domain_nodes(store, dom));
  DeviceNodes vbd{1, "vbd", 51712, {{"virtual-device", "51712"}, {"device-type", "disk"}}, {{"mode", "w"}}};
  REQUIRE(write_device_nodes(store, vbd));
  const std::string front = "/local/domain/1/device/vbd/51712";
  const std::string back = "/local/domain/0/backend/vbd/1/51712";
  CHECK(frontend_path(vbd) == front);
  CHECK(backend_path(vbd) == back);
  CHECK(store.read(front + "/backend") == back);
  CHECK(store.read(front + "/state") == "1");
  CHECK(store.read(front + "/device-type") == "disk");
  CHECK(store.read(back + "/frontend") == front);
  CHECK(store.read(back + "/frontend-id") == "1");
  CHECK(store.read(back + "/mode") == "w");
  CHECK(store.get_perms(front + "/state") == *parse_perms({"n1", "r0"}));
  CHECK(store.get_perms(back + "/state") == *parse_perms({"n0", "r1"}));

  const ConnId guest = store.connect(1, [](std::string_view, std::string_view) {});
  Deliveries out;
  CHECK(store.write(Request{guest, 0}, "device/vbd/51712/ring-ref", "8", out).has_value());
  CHECK(store.write(Request{guest, 0}, "device/vbd/51712/state", "3", out).has_value());
  CHECK(store.read(Request{guest, 0}, back + "/state") == "1");
  CHECK(store.write(Request{guest, 0}, back + "/state", "4", out).error() == EACCES);
  CHECK(store.directory(Request{guest, 0}, "device/vbd") == std::vector<std::string>{"51712"});
  store.disconnect(guest);

  REQUIRE(remove_device_nodes(store, vbd));
  CHECK(store.read(front).error() == ENOENT);
  CHECK(store.read(back).error() == ENOENT);
  CHECK(write_device_nodes(store, DeviceNodes{0, "vbd", 1, {}, {}}).error() == EINVAL);
}
