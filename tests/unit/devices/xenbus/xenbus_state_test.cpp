// The XenBus handshake's transitions, as blkback/netback walk them.
#include <catch2/catch.hpp>

#include "xenbus/xenbus_state.hpp"

using namespace kxen::xenbus;

TEST_CASE("the backend connects once, from InitWait", "[xenbus]") {
  for (const auto frontend : {XenbusStateInitialised, XenbusStateConnected}) {
    const auto t = on_frontend_state(XenbusStateInitWait, frontend);
    CHECK(t.step == BackendStep::connect);
    CHECK(t.next == XenbusStateConnected);
    // A second watch event on a Connected frontend does nothing.
    CHECK(on_frontend_state(XenbusStateConnected, frontend).step == BackendStep::none);
    CHECK(on_frontend_state(XenbusStateClosed, frontend).step == BackendStep::none);
  }
}

TEST_CASE("closing and closed tear down once", "[xenbus]") {
  auto t = on_frontend_state(XenbusStateConnected, XenbusStateClosing);
  CHECK(t.step == BackendStep::disconnect);
  CHECK(t.next == XenbusStateClosing);
  CHECK(on_frontend_state(XenbusStateClosing, XenbusStateClosing).step == BackendStep::none);
  t = on_frontend_state(XenbusStateClosing, XenbusStateClosed);
  CHECK(t.step == BackendStep::disconnect);
  CHECK(t.next == XenbusStateClosed);
  CHECK(on_frontend_state(XenbusStateClosed, XenbusStateClosed).step == BackendStep::none);
  t = on_frontend_state(XenbusStateConnected, XenbusStateUnknown);  // the node was removed
  CHECK(t.step == BackendStep::disconnect);
  CHECK(t.next == XenbusStateClosed);
}

TEST_CASE("a frontend that starts over gets InitWait again", "[xenbus]") {
  auto t = on_frontend_state(XenbusStateClosed, XenbusStateInitialising);
  CHECK(t.step == BackendStep::reinit);
  CHECK(t.next == XenbusStateInitWait);
  t = on_frontend_state(XenbusStateConnected, XenbusStateInitialising);  // reset without closing (kexec)
  CHECK(t.step == BackendStep::disconnect);
  CHECK(t.next == XenbusStateInitWait);
  CHECK(on_frontend_state(XenbusStateInitWait, XenbusStateInitialising).step == BackendStep::none);
}

TEST_CASE("states a frontend may not enter change nothing", "[xenbus]") {
  for (const auto frontend : {XenbusStateInitWait, XenbusStateReconfiguring, XenbusStateReconfigured}) {
    for (const auto backend : {XenbusStateInitWait, XenbusStateConnected, XenbusStateClosed}) {
      const auto t = on_frontend_state(backend, frontend);
      CHECK(t.step == BackendStep::none);
      CHECK_FALSE(t.next.has_value());
    }
  }
}

TEST_CASE("state nodes parse strictly", "[xenbus]") {
  CHECK(parse_state("4") == XenbusStateConnected);
  CHECK(parse_state("0") == XenbusStateUnknown);
  CHECK_FALSE(parse_state("9"));
  CHECK_FALSE(parse_state(""));
  CHECK_FALSE(parse_state("4 "));
  CHECK_FALSE(parse_state("-1"));
  CHECK_FALSE(parse_state("99999999999999999999"));
  CHECK(state_name(XenbusStateInitWait) == "InitWait");
}
