// XenBus driving a fake backend through a real XenStore: nodes, features, the handshake,
// connect failures, reconnects, and a frontend's junk.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <sstream>

#include "xenbus/xenbus.hpp"

using namespace kxen;
using namespace kxen::xenbus;

namespace {

class FakeContext final : public BackendContext {
 public:
  FakeContext(xenstore::XenStore& store, std::string frontend, std::string backend)
      : store_(store), frontend_(std::move(frontend)), backend_(std::move(backend)) {}
  xenstore::DomId frontend_domid() const override { return 1; }
  const std::string& frontend_path() const override { return frontend_; }
  const std::string& backend_path() const override { return backend_; }
  xenstore::XenStore& store() override { return store_; }
  GrantAccess& grants() override { throw std::logic_error("not used"); }
  std::expected<std::unique_ptr<EventChannel>, std::string> bind(evtchn_port_t) override {
    return std::unexpected(std::string("not used"));
  }
  void failed(std::string_view) override {}

 private:
  xenstore::XenStore& store_;
  std::string frontend_, backend_;
};

struct Calls {
  int connects = 0;
  int disconnects = 0;
  bool fail_connect = false;
  int refreshes = 0;
  std::expected<bool, std::string> refresh_result = false;
};

class FakeBackend final : public XenBackend {
 public:
  explicit FakeBackend(Calls& calls) : calls_(calls) {}
  std::string_view type() const override { return "vbd"; }
  std::uint32_t devid() const override { return 51712; }
  NodeList frontend_nodes() const override { return {{"device-type", "disk"}}; }
  NodeList backend_nodes() const override { return {{"mode", "w"}}; }
  std::expected<void, std::string> advertise(BackendContext& ctx) override {
    if (auto r = ctx.store().write(ctx.backend_path() + "/feature-test", "1"); !r) return std::unexpected("write");
    return {};
  }
  std::expected<void, std::string> connect(BackendContext& ctx) override {
    ++calls_.connects;
    if (calls_.fail_connect) return std::unexpected(std::string("ring-ref is missing"));
    (void)ctx.store().write(ctx.backend_path() + "/sectors", "2048");
    return {};
  }
  void disconnect() override { ++calls_.disconnects; }
  std::expected<bool, std::string> refresh(BackendContext&) override {
    ++calls_.refreshes;
    return calls_.refresh_result;
  }

 private:
  Calls& calls_;
};

struct World {
  xenstore::XenStore store;
  Calls calls;
  XenBus bus{store, 1, [this](const std::string& f, const std::string& b) {
               return std::make_unique<FakeContext>(store, f, b);
             }};
  const std::string frontend = "/local/domain/1/device/vbd/51712";
  const std::string backend = "/local/domain/0/backend/vbd/1/51712";

  World() { REQUIRE(bus.add(std::make_unique<FakeBackend>(calls))); }
  void frontend_state(int state) {
    REQUIRE(store.write(frontend + "/state", fmt::format("{}", state)));
    bus.process_pending();
  }
  std::string backend_node(const std::string& name) { return store.read(backend + "/" + name).value_or("<none>"); }
};

}  // namespace

TEST_CASE("a device appears with its nodes, features and InitWait", "[xenbus]") {
  World w;
  w.bus.process_pending();
  CHECK(w.store.read(w.frontend + "/device-type") == "disk");
  CHECK(w.store.read(w.frontend + "/backend") == w.backend);
  CHECK(w.backend_node("mode") == "w");
  CHECK(w.backend_node("feature-test") == "1");
  CHECK(w.backend_node("state") == "2");
  CHECK(w.bus.backend_state(0) == XenbusStateInitWait);
  CHECK(w.calls.connects == 0);
}

TEST_CASE("Initialised connects; Closing and Closed disconnect; a new frontend reconnects", "[xenbus]") {
  World w;
  w.frontend_state(XenbusStateInitialised);
  CHECK(w.calls.connects == 1);
  CHECK(w.backend_node("state") == "4");
  CHECK(w.backend_node("sectors") == "2048");
  w.frontend_state(XenbusStateConnected);  // blkfront's own Connected after ours
  CHECK(w.calls.connects == 1);
  w.frontend_state(XenbusStateClosing);
  CHECK(w.calls.disconnects == 1);
  CHECK(w.backend_node("state") == "5");
  w.frontend_state(XenbusStateClosed);
  CHECK(w.backend_node("state") == "6");
  w.frontend_state(XenbusStateInitialising);  // the module is loaded again
  CHECK(w.backend_node("state") == "2");
  w.frontend_state(XenbusStateInitialised);
  CHECK(w.calls.connects == 2);
  CHECK(w.backend_node("state") == "4");
}

TEST_CASE("a failed connect writes the error and closes", "[xenbus]") {
  World w;
  w.calls.fail_connect = true;
  w.frontend_state(XenbusStateInitialised);
  CHECK(w.calls.connects == 1);
  CHECK(w.calls.disconnects == 1);
  CHECK(w.backend_node("error") == "ring-ref is missing");
  CHECK(w.backend_node("state") == "5");
  w.frontend_state(XenbusStateConnected);  // no retry until the frontend starts over
  CHECK(w.calls.connects == 1);
  w.frontend_state(XenbusStateClosed);
  w.frontend_state(XenbusStateInitialising);
  w.calls.fail_connect = false;
  w.frontend_state(XenbusStateInitialised);  // the frontend starts over and succeeds
  CHECK(w.calls.connects == 2);
  CHECK(w.backend_node("state") == "4");
  CHECK(w.backend_node("error") == "<none>");
}

TEST_CASE("junk in the frontend's state node is ignored", "[xenbus]") {
  World w;
  REQUIRE(w.store.write(w.frontend + "/state", "4\x01garbage"));
  w.bus.process_pending();
  CHECK(w.calls.connects == 0);
  CHECK(w.bus.backend_state(0) == XenbusStateInitWait);
  REQUIRE(w.store.rm(w.frontend));  // the frontend's directory vanishes: Closed
  w.bus.process_pending();
  CHECK(w.bus.backend_state(0) == XenbusStateClosed);
}

TEST_CASE("a frontend rewriting junk into its state node cannot flood the log", "[xenbus]") {
  World w;
  std::ostringstream out;
  {
    // The default logger writes into `out` only while this scope lives, even when a REQUIRE throws.
    struct LogInto {
      std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
      explicit LogInto(std::ostream& os) {
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("count", std::make_shared<spdlog::sinks::ostream_sink_st>(os)));
      }
      ~LogInto() { spdlog::set_default_logger(previous); }
    } capture(out);
    for (int i = 0; i < 1000; ++i) {
      REQUIRE(w.store.write(w.frontend + "/state", fmt::format("junk{}", i)));
      w.bus.process_pending();
    }
  }
  const std::string text = out.str();
  std::size_t lines = 0;
  for (auto at = text.find("the frontend wrote state"); at != std::string::npos; at = text.find("the frontend wrote state", at + 1)) ++lines;
  CHECK(lines >= 1);   // still reported
  CHECK(lines <= 11);  // a burst, then one per period
  CHECK(w.bus.backend_state(0) == XenbusStateInitWait);
}

TEST_CASE("the XenBus thread serves a frontend's state writes", "[xenbus][threads]") {
  World w;
  w.bus.start();
  REQUIRE(w.store.write(w.frontend + "/state", "3"));
  for (int i = 0; i < 500 && w.bus.backend_state(0) != XenbusStateConnected; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(w.bus.backend_state(0) == XenbusStateConnected);
  w.bus.stop();
  CHECK(w.calls.disconnects == 1);
}

TEST_CASE("a change on the host is announced by a repeated Connected, only while both ends are connected",
          "[xenbus]") {
  World w;
  int state_writes = 0;
  auto watch = w.store.watch(w.backend + "/state", [&](std::string_view) { ++state_writes; });
  REQUIRE(watch);
  w.bus.process_pending();
  const int initial = state_writes;

  w.calls.refresh_result = true;
  w.bus.refresh_connected();  // InitWait: not asked
  CHECK(w.calls.refreshes == 0);

  w.frontend_state(XenbusStateInitialised);
  REQUIRE(w.backend_node("state") == "4");
  const int connected = state_writes;
  CHECK(connected == initial + 1);
  w.bus.refresh_connected();  // the frontend has not said Connected yet: it will read the node then
  CHECK(w.calls.refreshes == 1);
  CHECK(state_writes == connected);

  w.frontend_state(XenbusStateConnected);
  w.calls.refresh_result = false;
  w.bus.refresh_connected();
  CHECK(w.calls.refreshes == 2);
  CHECK(state_writes == connected);

  w.calls.refresh_result = true;
  w.bus.refresh_connected();
  CHECK(w.calls.refreshes == 3);
  CHECK(state_writes == connected + 1);
  CHECK(w.backend_node("state") == "4");
  CHECK(w.bus.backend_state(0) == XenbusStateConnected);
  CHECK(w.calls.connects == 1);  // announced, not reconnected

  w.calls.refresh_result = std::unexpected(std::string("fstat: No such device"));
  w.bus.refresh_connected();
  w.bus.refresh_connected();
  CHECK(w.calls.refreshes == 5);
  CHECK(state_writes == connected + 1);
  CHECK(w.bus.backend_state(0) == XenbusStateConnected);

  w.calls.refresh_result = true;
  w.frontend_state(XenbusStateClosing);
  const int closing = state_writes;
  w.bus.refresh_connected();  // Closing: not asked
  CHECK(w.calls.refreshes == 5);
  CHECK(state_writes == closing);
  w.store.unwatch(*watch);
}

TEST_CASE("the XenBus thread refreshes connected devices about once a second", "[xenbus][threads]") {
  World w;
  w.calls.refresh_result = true;
  w.bus.start();
  REQUIRE(w.store.write(w.frontend + "/state", "3"));
  for (int i = 0; i < 500 && w.bus.backend_state(0) != XenbusStateConnected; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(w.store.write(w.frontend + "/state", "4"));
  const auto limit = std::chrono::steady_clock::now() + 3 * XenBus::kRefreshInterval;
  std::atomic<int> state_writes{0};
  auto watch = w.store.watch(w.backend + "/state", [&](std::string_view) { ++state_writes; });
  REQUIRE(watch);
  const int registered = state_writes.load();
  while (state_writes == registered && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  w.store.unwatch(*watch);
  w.bus.stop();
  CHECK(state_writes > registered);
  CHECK(w.store.read(w.backend + "/state") == "4");
}
