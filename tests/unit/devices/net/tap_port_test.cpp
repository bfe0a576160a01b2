// TapPort on a real multi-queue tap: queues the frontend does not use are detached, so the
// kernel stops spreading received flows onto fds no ring reads.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "kvm/fd.hpp"
#include "net/tap_port.hpp"

using namespace kxen;
using namespace kxen::net;

namespace {

// The kernel's count of a tap's attached queues, as sysfs lists them.
std::size_t attached_queues(const std::string& ifname) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net/" + ifname + "/queues"))
    if (entry.path().filename().string().starts_with("tx-")) ++n;
  return n;
}

}  // namespace

TEST_CASE("tap port: queues out of use are detached and come back when used again", "[net][tap]") {
  // A multi-queue tap that lives as long as this fd, as `ip tuntap add ... multi_queue` would make.
  INFO("makes a tap: needs /dev/net/tun and CAP_NET_ADMIN (root, as tests/run-all runs)");
  Fd owner(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  REQUIRE(owner.valid());
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "kxtest%d", IFNAMSIZ - 1);
  ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE);
  REQUIRE(::ioctl(owner.get(), TUNSETIFF, &ifr) == 0);
  const std::string name = ifr.ifr_name;

  auto ports = TapPort::open_tap(name, 3, 0);
  REQUIRE(ports);
  REQUIRE(ports->size() == 3);
  CHECK(attached_queues(name) == 4);

  REQUIRE((*ports)[1]->set_in_use(false));
  REQUIRE((*ports)[2]->set_in_use(false));
  CHECK(attached_queues(name) == 2);
  REQUIRE((*ports)[2]->set_in_use(false));  // already out of use: nothing to do, no EINVAL
  REQUIRE((*ports)[0]->set_in_use(true));   // already attached
  CHECK(attached_queues(name) == 2);
  REQUIRE((*ports)[2]->set_in_use(true));
  CHECK(attached_queues(name) == 3);
}
