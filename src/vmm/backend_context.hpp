// The core behind BackendContext: one device's view of the guest's XenStore, grant table and
// event channels (devices/xenbus/backend.hpp says what a backend may reach).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "xen/platform/xen_platform.hpp"
#include "xenbus/backend.hpp"

namespace kxen {

class PlatformGrantAccess final : public xenbus::GrantAccess {
 public:
  explicit PlatformGrantAccess(GrantTable& table) : table_(table) {}
  using xenbus::GrantAccess::map;
  void map(std::span<const grant_ref_t> refs, bool writable, MapResults& out) override {
    table_.map_batch(refs, writable, out);
  }
  void unmap(std::span<const GrantMapping> mappings) override { table_.unmap_batch(mappings); }
  std::int16_t copy_from(grant_ref_t ref, std::uint32_t offset, std::span<std::byte> out) override {
    return table_.copy_from_grant(ref, offset, out);
  }

 private:
  GrantTable& table_;
};

class PlatformBackendContext final : public xenbus::BackendContext {
 public:
  using FailureHandler = std::function<void(std::string_view why)>;
  PlatformBackendContext(XenPlatform& platform, xenstore::XenStore& store, std::string frontend_path,
                         std::string backend_path, FailureHandler on_failure);

  xenstore::DomId frontend_domid() const override { return platform_.config().domid; }
  const std::string& frontend_path() const override { return frontend_path_; }
  const std::string& backend_path() const override { return backend_path_; }
  xenstore::XenStore& store() override { return store_; }
  xenbus::GrantAccess& grants() override { return grants_; }
  std::expected<std::unique_ptr<xenbus::EventChannel>, std::string> bind(evtchn_port_t frontend_port) override;
  void failed(std::string_view why) override { on_failure_(why); }

 private:
  XenPlatform& platform_;
  xenstore::XenStore& store_;
  PlatformGrantAccess grants_;
  std::string frontend_path_;
  std::string backend_path_;
  FailureHandler on_failure_;
};

}  // namespace kxen
