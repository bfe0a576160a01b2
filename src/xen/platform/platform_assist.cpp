// vm_assist: the one assist a PVH domain may turn on is the runstate update flag.
#include "xen/platform/xen_platform.hpp"  // first: Xen headers need its interface version

#include <xen/errno.h>

namespace kxen {

HypercallOutcome XenPlatform::vm_assist(const HypercallRequest& request) {
  const std::uint64_t cmd = request.args[0];
  const std::uint64_t type = request.args[1];
  if (cmd != VMASST_CMD_enable && cmd != VMASST_CMD_disable) return {-XEN_EINVAL};
  // Xen lets HVM and PVH domains use only runstate_update_flag; the rest are PV paging assists.
  if (type != VMASST_TYPE_runstate_update_flag) return {-XEN_EINVAL};
  // KVM keeps the runstate area and its update-flag mode is untested here: not offered, which
  // Linux takes as "read other vCPUs' runstate without the flag".
  if (accel_) return {-XEN_EINVAL};
  runstates_.set_update_flag(cmd == VMASST_CMD_enable);  // kxen keeps the areas itself
  return {0};
}

}  // namespace kxen
