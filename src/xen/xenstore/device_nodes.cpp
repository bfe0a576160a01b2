#include "xen/xenstore/device_nodes.hpp"

#include <cerrno>

#include <fmt/format.h>

namespace kxen::xenstore {

namespace {

constexpr int kMaxAttempts = 8;

NodePerms two_perms(DomId owner, DomId reader) {
  NodePerms p;
  p.entries = {PermEntry{owner, kAccessNone}, PermEntry{reader, kAccessRead}};
  return p;
}

Result<void> write_all(XenStore& store, TxId tx, const DeviceNodes& d) {
  const std::string front = frontend_path(d);
  const std::string back = backend_path(d);
  const std::vector<std::pair<std::string, std::string>> front_base = {
      {"backend", back}, {"backend-id", "0"}, {"state", "1"}};
  const std::vector<std::pair<std::string, std::string>> back_base = {
      {"frontend", front}, {"frontend-id", std::to_string(d.frontend_domid)}, {"online", "1"}, {"state", "1"}};
  for (const auto& [dir, perms] : {std::pair{front, two_perms(d.frontend_domid, 0)},
                                   std::pair{back, two_perms(0, d.frontend_domid)}}) {
    if (auto r = store.rm(dir, tx); !r && r.error() != ENOENT) return r;  // a missing parent is fine
    if (auto r = store.mkdir(dir, tx); !r) return r;
    if (auto r = store.set_perms(dir, perms, tx); !r) return r;
  }
  for (const auto* list : {&front_base, &d.frontend})
    for (const auto& [key, value] : *list)
      if (auto r = store.write(front + "/" + key, value, tx); !r) return r;
  for (const auto* list : {&back_base, &d.backend})
    for (const auto& [key, value] : *list)
      if (auto r = store.write(back + "/" + key, value, tx); !r) return r;
  return {};
}

}  // namespace

std::string frontend_path(const DeviceNodes& d) {
  return fmt::format("/local/domain/{}/device/{}/{}", d.frontend_domid, d.type, d.devid);
}

std::string backend_path(const DeviceNodes& d) {
  return fmt::format("/local/domain/0/backend/{}/{}/{}", d.type, d.frontend_domid, d.devid);
}

Result<void> write_device_nodes(XenStore& store, const DeviceNodes& device) {
  if (device.type.empty() || device.frontend_domid == 0) return std::unexpected(EINVAL);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto tx = store.transaction_start();
    if (!tx) return std::unexpected(tx.error());
    if (auto r = write_all(store, *tx, device); !r) {
      (void)store.transaction_end(*tx, false);
      return r;
    }
    auto committed = store.transaction_end(*tx, true);
    if (committed || committed.error() != EAGAIN) return committed;
  }
  return std::unexpected(EAGAIN);
}

Result<void> remove_device_nodes(XenStore& store, const DeviceNodes& device) {
  auto front = store.rm(frontend_path(device));
  auto back = store.rm(backend_path(device));
  return front ? back : front;
}

}  // namespace kxen::xenstore
