#include <catch2/catch.hpp>

#include "platform_fakes.hpp"

namespace kxen::test {

namespace {
std::int64_t vm_assist(PlatformWorld& w, std::uint64_t cmd, std::uint64_t type) {
  HypercallRequest r;
  r.args = {cmd, type, 0, 0, 0, 0};
  return w.platform->vm_assist(r).result;
}
}  // namespace

TEST_CASE("vm_assist: the runstate update flag is not offered while KVM keeps the runstate area", "[platform]") {
  PlatformWorld w;
  CHECK(vm_assist(w, VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag) == -XEN_EINVAL);
  CHECK(vm_assist(w, VMASST_CMD_disable, VMASST_TYPE_runstate_update_flag) == -XEN_EINVAL);
}

TEST_CASE("vm_assist refuses PV-only assists and unknown commands", "[platform]") {
  PlatformWorld w(false);
  CHECK(vm_assist(w, VMASST_CMD_enable, VMASST_TYPE_writable_pagetables) == -XEN_EINVAL);
  CHECK(vm_assist(w, VMASST_CMD_enable, VMASST_TYPE_m2p_strict) == -XEN_EINVAL);
  CHECK(vm_assist(w, 2, VMASST_TYPE_runstate_update_flag) == -XEN_EINVAL);
  CHECK(vm_assist(w, VMASST_CMD_enable, 0x1'0000'0005) == -XEN_EINVAL);
}

TEST_CASE("vm_assist without KVM acceleration accepts the flag: kxen keeps the runstate areas", "[platform]") {
  PlatformWorld w(false);
  CHECK(vm_assist(w, VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag) == 0);
  CHECK(vm_assist(w, VMASST_CMD_disable, VMASST_TYPE_runstate_update_flag) == 0);
}

}  // namespace kxen::test
