// The XenBus side of every backend: writes each device's nodes, watches its frontend's state and
// walks the handshake (xenbus_state.hpp) on one thread of its own, calling the backend's hooks
// there; a frontend's state write on a vCPU thread only queues the device.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "xenbus/backend.hpp"
#include "xenbus/xenbus_state.hpp"

namespace kxen::xenbus {

// Lock order: mutex_ is a leaf (never held while calling XenStore or a backend).
class XenBus final {
 public:
  using ContextFactory =
      std::function<std::unique_ptr<BackendContext>(const std::string& frontend_path, const std::string& backend_path)>;

  XenBus(xenstore::XenStore& store, xenstore::DomId frontend_domid, ContextFactory contexts);
  ~XenBus();
  XenBus(const XenBus&) = delete;
  XenBus& operator=(const XenBus&) = delete;

  // Before start(): writes the device's nodes and features, enters InitWait, watches the frontend.
  std::expected<void, std::string> add(std::unique_ptr<XenBackend> backend);
  void start();
  // Disconnects every backend and joins the thread. Idempotent.
  void stop();

  // Tests and monitors: the backend state of device `index` (in add() order).
  XenbusState backend_state(std::size_t index) const;
  std::size_t size() const { return devices_.size(); }
  // Runs the handshake for every queued device on the caller's thread (tests without start()).
  void process_pending();
  // Asks every Connected backend to refresh (serve() does so every kRefreshInterval); a backend
  // that reports a change gets its Connected state written again.
  void refresh_connected();

  static constexpr std::chrono::milliseconds kRefreshInterval{1000};

 private:
  struct Device {
    std::unique_ptr<XenBackend> backend;
    std::unique_ptr<BackendContext> context;
    XenbusState state = XenbusStateInitialising;
    xenstore::WatchId watch = 0;
    std::string label;  // "vbd 51712" for logs
    std::string refresh_error;  // the last one logged: a lasting failure is logged once
  };

  void serve();
  void handle(Device& device);
  void switch_state(Device& device, XenbusState next);
  void queue(std::size_t index);

  xenstore::XenStore& store_;
  xenstore::DomId domid_;
  ContextFactory contexts_;
  std::vector<std::unique_ptr<Device>> devices_;  // fixed once start() runs

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::size_t> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kxen::xenbus
