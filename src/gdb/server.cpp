#include "gdb/server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <pthread.h>
#include <spdlog/spdlog.h>

#include "gdb/session.hpp"
#include "gdb/vm_target.hpp"

namespace kxen::gdb {

namespace {
constexpr int kRunningPollMs = 20;  // how soon a stop is reported while the guest runs

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}
}  // namespace

std::expected<std::unique_ptr<GdbServer>, std::string> GdbServer::listen(const Endpoint& endpoint) {
  auto listener = listen_on(endpoint);
  if (!listener) return std::unexpected(listener.error());
  Fd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return std::unexpected(std::string("gdb: eventfd failed: ") + std::strerror(errno));
  spdlog::warn("gdb: waiting for gdb on {} (target remote {})", describe(endpoint),
               endpoint.kind == Endpoint::Kind::tcp ? endpoint.host + ":" + std::to_string(endpoint.port) : endpoint.path);
  return std::unique_ptr<GdbServer>(new GdbServer(std::move(*listener), std::move(wake), endpoint));
}

GdbServer::~GdbServer() {
  end_vm();
  if (endpoint_.kind == Endpoint::Kind::unix_socket) ::unlink(endpoint_.path.c_str());
}

void GdbServer::serve(Vm& vm) {
  end_vm();
  std::uint64_t drain = 0;
  while (::read(wake_.get(), &drain, sizeof(drain)) > 0) {
  }
  thread_ = std::thread([this, &vm] { run(vm); });
  pthread_setname_np(thread_.native_handle(), "kxen-gdb");
}

void GdbServer::end_vm(bool last_boot) {
  if (!thread_.joinable()) return;
  last_boot_.store(last_boot);
  const std::uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof(one)) < 0) spdlog::warn("gdb: cannot wake the stub thread");
  thread_.join();
}

void GdbServer::run(Vm& vm) {
  VmTarget target(vm);
  auto drop_client = [&] {
    if (session_) session_->disconnect();
    session_.reset();
    client_.reset();
    decoder_ = PacketDecoder();
  };
  if (session_ && client_.valid()) {  // still connected from the last boot
    const std::string stop = session_->rebind(target);
    if (!stop.empty() && !send_all(client_.get(), stop)) drop_client();
  }
  for (;;) {
    pollfd fds[3] = {{wake_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}, {client_.get(), POLLIN, 0}};
    const int n = ::poll(fds, client_.valid() ? 3 : 2, session_ && session_->running() ? kRunningPollMs : -1);
    if (n < 0 && errno != EINTR) break;
    if (fds[0].revents) {
      // The VM ends. Last boot: a client waiting in `continue` hears the exit instead of a closed
      // socket; otherwise it stays connected for the next boot.
      if (last_boot_.load() && session_) {
        const std::string stop = session_->final_stop();
        if (!stop.empty()) send_all(client_.get(), stop);
      }
      return;
    }
    if (fds[1].revents & POLLIN) {
      Fd fresh(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (fresh.valid() && client_.valid()) {
        spdlog::warn("gdb: refused a second client (one gdb at a time)");
      } else if (fresh.valid()) {
        spdlog::info("gdb: client connected; the guest is stopped");
        client_ = std::move(fresh);
        session_ = std::make_unique<Session>(target);
      }
    }
    if (client_.valid() && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[4096];
      const ssize_t got = ::recv(client_.get(), buf, sizeof(buf), 0);
      if (got <= 0) {
        spdlog::info("gdb: client disconnected; the guest runs on");
        drop_client();
        continue;
      }
      std::vector<PacketEvent> events;
      decoder_.feed(std::string_view(buf, static_cast<std::size_t>(got)), events);
      for (const auto& event : events) {
        if (!send_all(client_.get(), session_->on_event(event)) || session_->finished()) break;
      }
    }
    if (session_ && session_->running()) {
      const std::string stop = session_->poll_stop(std::chrono::milliseconds(0));
      if (!stop.empty() && !send_all(client_.get(), stop)) drop_client();
    }
    if (session_ && session_->finished()) {
      session_.reset();  // finished: already detached, killed, or the guest ended
      client_.reset();
      decoder_ = PacketDecoder();
    }
  }
}

}  // namespace kxen::gdb
