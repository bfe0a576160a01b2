// Toolstack helper: the XenStore nodes xl/libxl writes for a new PVH domU, with its permissions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "xen/xenstore/store.hpp"

namespace kxen::xenstore {

// A shared ring a frontend reaches through a grant/pfn and an event channel.
struct RingNodes {
  std::uint64_t ring_ref = 0;  // pfn (PVH: guest frame number)
  std::uint32_t port = 0;      // event channel in the guest
};

struct DomainNodes {
  DomId domid = 1;
  std::string name;
  std::string uuid;                  // canonical 36-character form
  std::uint32_t vcpus = 1;
  std::uint64_t target_kib = 0;      // memory/target
  std::uint64_t max_kib = 0;         // memory/static-max
  std::optional<RingNodes> store;    // store/{ring-ref,port}
  std::optional<RingNodes> console;  // console/* as libxl writes the primary console
};

// Writes /local/domain/<id>/... and /vm/<uuid>/... in one transaction (retried on EAGAIN), as
// libxl__domain_make + libxl__build_post do: the domain reads its tree, may write control/shutdown,
// control/feature-*, data, drivers, feature, attr, error and its console frontend nodes.
// Call XenStore::introduce_domain once the domain's ring is connected.
Result<void> write_domain_nodes(XenStore& store, const DomainNodes& domain);

// Removes the domain's nodes and fires @releaseDomain.
Result<void> remove_domain_nodes(XenStore& store, DomId domid, const std::string& uuid);

}  // namespace kxen::xenstore
