// A thread serving the guest that cannot go on stops the VM as crashed, once it knows the host.
#include "platform_fakes.hpp"

#include "../hypercall/support.hpp"

namespace kxen::test {

TEST_CASE("thread_failed stops the VM as crashed through the hypercall host", "[platform]") {
  PlatformWorld w;
  w.platform->thread_failed("timers", "out of memory");  // before registration: logged only
  FakeHost host;
  Hypercalls hypercalls(w.memory, host, HypercallConfig{});
  w.platform->register_hypercalls(hypercalls);
  w.platform->thread_failed("console", "out of memory");
  CHECK(host.shutdowns == std::vector<ShutdownReason>{ShutdownReason::crash});
}

}  // namespace kxen::test
