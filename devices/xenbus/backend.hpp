// The contract every in-process Xen backend implements (XenBackend), and all of the core it may
// reach (BackendContext): XenStore, the frontend's event channels, its grants. Nothing else.
#pragma once

#include "xen/gnttab/grant_table.hpp"  // first: it pins the Xen interface version

#include <xen/event_channel.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xen/xenstore/store.hpp"

namespace kxen::xenbus {

// An event channel bound to one frontend port. Each frontend kick makes eventfd() readable (the
// backend's I/O thread polls it; with kvm-xen the kernel signals it without an exit).
class EventChannel {
 public:
  virtual ~EventChannel() = default;
  virtual int eventfd() const = 0;
  virtual evtchn_port_t frontend_port() const = 0;
  // Raises the frontend's port; any thread. False when the guest has closed its end.
  virtual bool notify() = 0;
};

// The frontend's grants as the backend sees them. Each call takes the grant table's lock once
// for its whole batch; a bad or revoked ref fails its own entry only.
class GrantAccess {
 public:
  virtual ~GrantAccess() = default;
  using MapResults = std::vector<std::expected<GrantMapping, std::int16_t>>;
  // Pins and maps each ref into `out` (replacing its contents; its capacity is reused, so a queue
  // that keeps `out` maps without allocating); a read-only grant asked for writing fails with
  // GNTST_permission_denied.
  virtual void map(std::span<const grant_ref_t> refs, bool writable, MapResults& out) = 0;
  MapResults map(std::span<const grant_ref_t> refs, bool writable) {
    MapResults out;
    map(refs, writable, out);
    return out;
  }
  virtual void unmap(std::span<const GrantMapping> mappings) = 0;
  // Copies a granted page region into `out` (GNTST_okay or the error).
  virtual std::int16_t copy_from(grant_ref_t ref, std::uint32_t offset, std::span<std::byte> out) = 0;
};

// What one device's backend may reach; owned by the device manager, valid while the device lives.
class BackendContext {
 public:
  virtual ~BackendContext() = default;
  virtual xenstore::DomId frontend_domid() const = 0;
  virtual const std::string& frontend_path() const = 0;  // /local/domain/<dom>/device/<type>/<id>
  virtual const std::string& backend_path() const = 0;   // /local/domain/0/backend/<type>/<dom>/<id>
  virtual xenstore::XenStore& store() = 0;
  virtual GrantAccess& grants() = 0;
  // Binds to the frontend's unbound port (its remote must be dom0); one line of error text if not.
  virtual std::expected<std::unique_ptr<EventChannel>, std::string> bind(evtchn_port_t frontend_port) = 0;
  // A backend thread cannot go on (out of memory...): the VM stops as crashed, with `why`.
  virtual void failed(std::string_view why) = 0;
};

using NodeList = std::vector<std::pair<std::string, std::string>>;

// One device of a guest. The XenBus thread calls every hook (never a vCPU thread); backends do
// their I/O on threads of their own, started in connect() and joined in disconnect().
class XenBackend {
 public:
  virtual ~XenBackend() = default;
  virtual std::string_view type() const = 0;  // "vbd", "vif", "console"
  virtual std::uint32_t devid() const = 0;
  // Entries written with the device, while both ends are Initialising.
  virtual NodeList frontend_nodes() const = 0;
  virtual NodeList backend_nodes() const = 0;
  // Features for the frontend, written before the backend enters InitWait.
  virtual std::expected<void, std::string> advertise(BackendContext& ctx) = 0;
  // The frontend published its rings: map them, bind its channels, start serving. On error the
  // device goes to Closing with the text in the backend's `error` node.
  virtual std::expected<void, std::string> connect(BackendContext& ctx) = 0;
  // Stops serving and releases rings, grants and channels. Idempotent.
  virtual void disconnect() = 0;
  // Called about once a second while Connected: re-reads what the host may change under a running
  // device (a resized disk) and rewrites the backend's nodes; true when the frontend must be told
  // by a repeated Connected, as blkback does.
  virtual std::expected<bool, std::string> refresh(BackendContext& /*ctx*/) { return false; }
};

// Long-lived host resources of a device (an open, locked disk image) that outlive one boot: each
// boot of the guest gets a fresh backend from it.
class BackendFactory {
 public:
  virtual ~BackendFactory() = default;
  virtual std::string_view type() const = 0;
  virtual std::uint32_t devid() const = 0;
  virtual std::string describe() const = 0;  // for logs: "vbd xvda (disk.img)"
  virtual std::unique_ptr<XenBackend> create() = 0;
};

}  // namespace kxen::xenbus
