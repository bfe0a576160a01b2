// Toolstack helper: the frontend/backend node pair of a PV device, as libxl__device_generic_add
// writes it, so Linux's xenbus finds the device under device/<type>/<id> and can drive it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xen/xenstore/store.hpp"

namespace kxen::xenstore {

struct DeviceNodes {
  DomId frontend_domid = 1;
  std::string type;                // "vbd", "vif", "console"...
  std::uint32_t devid = 0;         // e.g. 51712 for xvda
  std::vector<std::pair<std::string, std::string>> frontend;  // extra frontend entries
  std::vector<std::pair<std::string, std::string>> backend;   // extra backend entries
};

std::string frontend_path(const DeviceNodes& device);  // /local/domain/<dom>/device/<type>/<id>
std::string backend_path(const DeviceNodes& device);   // /local/domain/0/backend/<type>/<dom>/<id>

// One transaction (retried on EAGAIN): the frontend directory owned by the guest and readable by
// dom0, the backend directory owned by dom0 and readable by the guest, both in state 1
// (XenbusStateInitialising), cross-linked through backend/backend-id and frontend/frontend-id.
Result<void> write_device_nodes(XenStore& store, const DeviceNodes& device);
// Removes both directories.
Result<void> remove_device_nodes(XenStore& store, const DeviceNodes& device);

}  // namespace kxen::xenstore
