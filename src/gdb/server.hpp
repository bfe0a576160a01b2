// The gdb stub's thread: accepts one client at a time on the listening socket (a second is
// refused), moves bytes between it and the Session, and reports stops while the guest runs.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "gdb/endpoint.hpp"
#include "gdb/packet.hpp"
#include "gdb/session.hpp"
#include "kvm/fd.hpp"

namespace kxen {
class Vm;
}

namespace kxen::gdb {

class GdbServer final {
 public:
  static std::expected<std::unique_ptr<GdbServer>, std::string> listen(const Endpoint& endpoint);
  ~GdbServer();
  GdbServer(const GdbServer&) = delete;
  GdbServer& operator=(const GdbServer&) = delete;

  // Serves clients for `vm` on the stub's own thread until end_vm(); one VM (boot) at a time.
  void serve(Vm& vm);
  // Stops serving before the VM goes away. The client stays connected for the next boot; on the
  // last boot a running client is first told how the guest ended (W00 or X06).
  void end_vm(bool last_boot = false);
  // A client is connected (between boots: the next boot starts parked, for its breakpoints).
  bool has_client() const { return client_.valid(); }

 private:
  GdbServer(Fd listener, Fd wake, Endpoint endpoint)
      : listener_(std::move(listener)), wake_(std::move(wake)), endpoint_(std::move(endpoint)) {}
  void run(Vm& vm);

  Fd listener_;
  Fd wake_;  // eventfd: end_vm() -> thread
  Endpoint endpoint_;
  std::atomic<bool> last_boot_{false};  // set by end_vm() before it wakes the thread
  Fd client_;  // kept across boots: gdb stays connected through a guest reboot
  std::unique_ptr<Session> session_;  // client_'s, kept with it (breakpoints survive a reboot)
  PacketDecoder decoder_;
  std::thread thread_;
};

}  // namespace kxen::gdb
