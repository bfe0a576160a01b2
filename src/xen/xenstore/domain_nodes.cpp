#include "xen/xenstore/domain_nodes.hpp"

#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kxen::xenstore {

namespace {

constexpr int kMaxAttempts = 8;  // EAGAIN only happens if someone writes these nodes meanwhile

NodePerms perms_of(std::initializer_list<PermEntry> entries) {
  NodePerms p;
  p.entries.assign(entries);
  return p;
}

// Writes under one transaction; the first error wins and is kept.
class NodeWriter {
 public:
  NodeWriter(XenStore& store, TxId tx) : store_(store), tx_(tx) {}
  void write(const std::string& path, std::string_view value) { keep(store_.write(path, value, tx_)); }
  void mknod(const std::string& path, const NodePerms& perms) {
    write(path, "");
    keep(store_.set_perms(path, perms, tx_));
  }
  void rm(const std::string& path) { keep(store_.rm(path, tx_)); }
  Result<void> result() const { return result_; }

 private:
  void keep(Result<void> r) {
    if (result_ && !r) result_ = r;
  }
  XenStore& store_;
  TxId tx_;
  Result<void> result_;
};

void write_skeleton(NodeWriter& w, const DomainNodes& d, const std::string& dom, const std::string& vm) {
  const NodePerms ro = perms_of({{0, kAccessNone}, {d.domid, kAccessRead}});
  const NodePerms rw = perms_of({{d.domid, kAccessNone}});
  w.rm(dom);
  w.mknod(dom, ro);
  w.rm(vm);
  w.mknod(vm, ro);
  w.write(dom + "/vm", vm);
  w.write(dom + "/name", d.name);
  for (const char* dir : {"cpu", "memory", "device", "control"}) w.mknod(fmt::format("{}/{}", dom, dir), ro);
  for (const char* node : {"control/shutdown", "control/feature-poweroff", "control/feature-reboot",
                           "control/feature-suspend", "control/sysrq", "device/suspend/event-channel", "data",
                           "drivers", "feature", "attr", "error"})
    w.mknod(fmt::format("{}/{}", dom, node), rw);
  w.write(vm + "/uuid", d.uuid);
  w.write(vm + "/name", d.name);
  const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  w.write(vm + "/start_time", fmt::format("{:.2f}", now));
  w.write(dom + "/control/platform-feature-multiprocessor-suspend", "1");
  w.write(dom + "/control/platform-feature-xs_reset_watches", "1");
}

// libxl__build_post: values the guest reads, inheriting the read-only perms of their parents.
void write_build_info(NodeWriter& w, const DomainNodes& d, const std::string& dom) {
  w.write(dom + "/domid", std::to_string(d.domid));
  w.write(dom + "/memory/static-max", std::to_string(d.max_kib));
  w.write(dom + "/memory/target", std::to_string(d.target_kib));
  for (std::uint32_t cpu = 0; cpu < d.vcpus; ++cpu) w.write(fmt::format("{}/cpu/{}/availability", dom, cpu), "online");
  if (d.store) {
    w.write(dom + "/store/port", std::to_string(d.store->port));
    w.write(dom + "/store/ring-ref", std::to_string(d.store->ring_ref));
  }
}

// The primary console as libxl__device_console_add writes it: frontend nodes the guest owns,
// ring-ref and port read-only to it.
void write_console(NodeWriter& w, const DomainNodes& d, const std::string& dom) {
  if (!d.console) return;
  const std::string con = dom + "/console";
  w.mknod(con, perms_of({{d.domid, kAccessNone}, {0, kAccessRead}}));
  w.write(con + "/backend", fmt::format("/local/domain/0/backend/console/{}/0", d.domid));
  w.write(con + "/backend-id", "0");
  w.write(con + "/limit", "1048576");
  w.write(con + "/type", "xenconsoled");
  w.write(con + "/output", "pty");
  w.write(con + "/tty", "");
  const NodePerms ro = perms_of({{0, kAccessNone}, {d.domid, kAccessRead}});
  w.mknod(con + "/port", ro);
  w.write(con + "/port", std::to_string(d.console->port));
  w.mknod(con + "/ring-ref", ro);
  w.write(con + "/ring-ref", std::to_string(d.console->ring_ref));
}

}  // namespace

Result<void> write_domain_nodes(XenStore& store, const DomainNodes& domain) {
  if (domain.domid == 0 || domain.uuid.empty()) return std::unexpected(EINVAL);
  const std::string dom = domain_path(domain.domid);
  const std::string vm = "/vm/" + domain.uuid;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto tx = store.transaction_start();
    if (!tx) return std::unexpected(tx.error());
    NodeWriter w(store, *tx);
    write_skeleton(w, domain, dom, vm);
    write_build_info(w, domain, dom);
    write_console(w, domain, dom);
    if (auto r = w.result(); !r) {
      (void)store.transaction_end(*tx, false);
      return r;
    }
    auto committed = store.transaction_end(*tx, true);
    if (committed || committed.error() != EAGAIN) return committed;
  }
  spdlog::error("xenstore: could not write the nodes of domain {}: store too busy", domain.domid);
  return std::unexpected(EAGAIN);
}

Result<void> remove_domain_nodes(XenStore& store, DomId domid, const std::string& uuid) {
  auto removed = store.rm(domain_path(domid));
  if (!uuid.empty())
    if (auto r = store.rm("/vm/" + uuid); removed && !r) removed = r;
  store.release_domain(domid);
  return removed;
}

}  // namespace kxen::xenstore
