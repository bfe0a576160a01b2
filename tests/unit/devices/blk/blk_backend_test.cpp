// BlkBackend::connect against hostile frontends, over the real platform: a XenPlatform on fake
// guest memory (its grant table and event channels), a real XenStore, PlatformBackendContext.
#include "../../xen/platform/platform_fakes.hpp"

#include <sys/eventfd.h>

#include <xen/event_channel.h>
#include <xen/memory.h>

#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "blk/blk_backend.hpp"
#include "blk_test_util.hpp"
#include "vmm/backend_context.hpp"
#include "../frontend_ring.hpp"

using namespace kxen;
using namespace kxen::blk;
using kxen::test::kArg;

namespace {

const std::string kFe = "/local/domain/7/device/vbd/51712";
const std::string kBe = "/local/domain/0/backend/vbd/7/51712";
constexpr std::uint64_t kGrantPfn = kxen::test::kHolePfn + 1;  // grant frame 0, an overlay above RAM
constexpr std::uint64_t kRingGfn0 = 0x60;                       // ring page of ref r: gfn 0x60 + r
constexpr std::size_t kDiskBytes = 1 << 20;

struct Front {
  kxen::test::PlatformWorld w{false};
  xenstore::XenStore store;
  PlatformBackendContext ctx{*w.platform, store, kFe, kBe, [](std::string_view) {}};
  blk::test::TempDir dir;
  std::optional<DiskImage> disk;
  std::unique_ptr<BlkBackend> backend;  // last: stopped before the disk and platform go

  explicit Front(unsigned queues = 0) {
    auto options = blk::test::options_for(blk::test::make_image(dir, "disk.img", kDiskBytes));
    options.queues = queues;
    auto opened = DiskImage::open(options);
    REQUIRE(opened);
    disk.emplace(std::move(*opened));
    backend = std::make_unique<BlkBackend>(*disk, "xvda", 51712);
    xen_add_to_physmap op{};
    op.domid = DOMID_SELF;
    op.space = XENMAPSPACE_grant_table;
    op.gpfn = kGrantPfn;
    REQUIRE(w.memory.write_obj(kArg, op));
    REQUIRE(w.memory_op(XENMEM_add_to_physmap, kArg) == 0);
    REQUIRE(w.map_shared_info(kxen::test::kShinfoPfn) == 0);
  }
  void grant(grant_ref_t ref, std::uint16_t flags, domid_t dom, std::uint64_t gfn) {
    const grant_entry_v1_t e{flags, dom, static_cast<std::uint32_t>(gfn)};
    std::memcpy(w.platform->grant_table().shared_frame(0) + ref * sizeof e, &e, sizeof e);
  }
  std::byte* page(std::uint64_t gfn) { return w.memory.span(gfn << 12, 4096)->data(); }
  // A zeroed ring page granted to dom0 as blkfront grants it, under ref `ref`.
  grant_ref_t ring(grant_ref_t ref) {
    std::memset(page(kRingGfn0 + ref), 0, 4096);
    SHARED_RING_INIT(reinterpret_cast<blkif_sring_t*>(page(kRingGfn0 + ref)));
    grant(ref, GTF_permit_access, 0, kRingGfn0 + ref);
    return ref;
  }
  // EVTCHNOP_alloc_unbound as the guest makes it, for `remote`.
  evtchn_port_t port(domid_t remote = 0) {
    REQUIRE(w.memory.write_obj(kArg, evtchn_alloc_unbound{DOMID_SELF, remote, 0}));
    REQUIRE(w.evtchn_op(EVTCHNOP_alloc_unbound, kArg) == 0);
    return w.memory.read_obj<evtchn_alloc_unbound>(kArg)->port;
  }
  void set(const std::string& node, const std::string& value) { REQUIRE(store.write(kFe + "/" + node, value)); }
  void unset(const std::string& node) { (void)store.rm(kFe + "/" + node); }
  void queue(const std::string& prefix, grant_ref_t ref, evtchn_port_t p) {
    set(prefix + "ring-ref", std::to_string(ref));
    set(prefix + "event-channel", std::to_string(p));
  }
  std::string backend_node(const std::string& key) { return store.read(kBe + "/" + key).value_or("<absent>"); }
  // Mappings and copies the backend still holds on the guest's grants.
  std::uint32_t pins() {
    std::uint32_t n = 0;
    for (const GrantInfo& g : w.platform->grant_table().entries_in_use(4096)) n += g.pins;
    return n;
  }
  std::string_view type_of(evtchn_port_t p) {
    for (const PortInfo& i : w.platform->event_channels().ports_in_use())
      if (i.port == p) return i.type;
    return "free";
  }
  // A refused connect left nothing behind: no grant pinned, each port unbound again.
  void expect_released(std::initializer_list<evtchn_port_t> ports) {
    CHECK(pins() == 0);
    for (const evtchn_port_t p : ports) CHECK(type_of(p) == "unbound");
  }
  std::string refused() {
    auto r = backend->connect(ctx);
    REQUIRE_FALSE(r);
    return r.error();
  }
  void connects() {
    auto r = backend->connect(ctx);
    INFO((r ? std::string("connected") : r.error()));
    REQUIRE(r);
  }
};

// A flush pushed on the ring of `ref` and kicked through `p` is answered, and the frontend's port raised.
void serves(Front& f, grant_ref_t ref, evtchn_port_t p) {
  blkif_front_ring_t front{};
  FRONT_RING_INIT(&front, reinterpret_cast<blkif_sring_t*>(f.page(kRingGfn0 + ref)), 4096);
  blkif_request_t flush{};
  flush.operation = BLKIF_OP_FLUSH_DISKCACHE;
  flush.id = 0x1234;
  *RING_GET_REQUEST(&front, front.req_prod_pvt++) = flush;
  kxen::test::push_requests(front);
  REQUIRE(f.w.memory.write_obj(kArg, evtchn_send{p}));
  REQUIRE(f.w.evtchn_op(EVTCHNOP_send, kArg) == 0);
  Fd idle(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));  // the platform raises the port, not an eventfd
  const auto rsp = kxen::test::wait_responses<blkif_response_t>(front, idle.get(), 1);
  CHECK(rsp[0].id == 0x1234);
  CHECK(rsp[0].status == BLKIF_RSP_OKAY);
  const std::uint64_t bit = std::uint64_t{1} << (p % 64);
  for (int i = 0; i < 500 && (std::atomic_ref(f.w.shinfo().evtchn_pending[p / 64]).load() & bit) == 0; ++i)
    ::usleep(10'000);
  CHECK((f.w.shinfo().evtchn_pending[p / 64] & bit) != 0);
}

}  // namespace

TEST_CASE("blk backend: a single-queue frontend connects, gets the disk's nodes and is served", "[blk]") {
  Front f;
  const auto ref = f.ring(3);
  const auto p = f.port();
  f.queue("", ref, p);
  SECTION("protocol x86_64-abi") { f.set("protocol", "x86_64-abi"); }
  SECTION("no protocol node") {}
  f.connects();
  CHECK(f.backend_node("sectors") == std::to_string(kDiskBytes / 512));
  CHECK(f.backend_node("info") == "0");
  CHECK(f.backend_node("sector-size") == std::to_string(f.disk->logical_sector_size()));
  CHECK(f.backend_node("physical-sector-size") == std::to_string(f.disk->physical_sector_size()));
  CHECK(f.pins() == 1);
  CHECK(f.type_of(p) == "interdomain");
  serves(f, ref, p);
  f.backend->disconnect();
  f.expect_released({p});
}

TEST_CASE("blk backend: multi-queue-num-queues is bounded and each queue has its own directory", "[blk]") {
  const unsigned max = GENERATE(0u, 2u);  // DiskOptions::queues; 0 advertises kDefaultQueues
  Front f(max);
  const unsigned advertised = max != 0 ? max : kDefaultQueues;
  const auto p0 = f.port(), p1 = f.port();
  f.queue("queue-0/", f.ring(1), p0);
  f.queue("queue-1/", f.ring(2), p1);
  f.set("multi-queue-num-queues", "0");
  CHECK(f.refused().find("is 0") != std::string::npos);
  f.set("multi-queue-num-queues", std::to_string(advertised + 1));
  CHECK(f.refused().find("multi-queue-num-queues is '" + std::to_string(advertised + 1) + "', not a number up to " +
                         std::to_string(advertised)) != std::string::npos);
  f.expect_released({p0, p1});
  f.set("multi-queue-num-queues", "2");
  f.unset("queue-1");
  CHECK(f.refused().find("queue-1/ring-ref is missing") != std::string::npos);
  f.expect_released({p0});  // queue 0 had connected: it was stopped, unmapped and unbound
  f.queue("queue-1/", 2, p1);
  f.connects();
  CHECK(f.pins() == 2);
  CHECK(f.type_of(p0) == "interdomain");
  CHECK(f.type_of(p1) == "interdomain");
  serves(f, 2, p1);
}

TEST_CASE("blk backend: ring-page-order is bounded and a multi-page ring needs every page", "[blk]") {
  Front f;
  const auto p = f.port();
  f.queue("", f.ring(0), p);
  f.set("ring-page-order", std::to_string(kMaxRingPageOrder + 1));
  CHECK(f.refused().find(fmt::format("ring-page-order is '{}', not a number up to {}", kMaxRingPageOrder + 1,
                                     kMaxRingPageOrder)) != std::string::npos);
  f.set("ring-page-order", "1");
  f.set("ring-ref0", std::to_string(f.ring(5)));
  CHECK(f.refused().find("ring-ref1 is missing") != std::string::npos);
  f.expect_released({p});
  f.set("ring-ref1", "6");  // page 0 maps, page 1 is not granted: page 0 must be released
  CHECK_FALSE(f.refused().empty());
  f.expect_released({p});
  f.ring(6);
  f.connects();
  CHECK(f.pins() == 2);
  serves(f, 5, p);
}

TEST_CASE("blk backend: one event channel given for two queues is refused and the first queue released",
          "[blk]") {
  Front f;
  const auto p = f.port();
  f.set("multi-queue-num-queues", "2");
  f.queue("queue-0/", f.ring(1), p);
  f.queue("queue-1/", f.ring(2), p);
  CHECK(f.refused().find(fmt::format("event channel {}", p)) != std::string::npos);
  f.expect_released({p});
  const auto p1 = f.port();
  f.set("queue-1/event-channel", std::to_string(p1));
  f.connects();
  CHECK(f.pins() == 2);
  serves(f, 1, p);
}

TEST_CASE("blk backend: an unknown protocol or an unusable ring grant or port is refused", "[blk]") {
  Front f;
  const auto p = f.port();
  f.queue("", f.ring(4), p);
  f.set("protocol", "x86_99-abi");
  CHECK(f.refused().find("x86_99-abi") != std::string::npos);
  f.set("protocol", "x86_99-abi" + std::string(4000, 'x'));  // the refusal goes to logs and the error node
  CHECK(f.refused().size() < 200);
  f.unset("protocol");
  struct Bad { const char* what; std::uint16_t flags; domid_t dom; std::uint64_t gfn; };
  for (const Bad& bad : {Bad{"revoked", 0, 0, kRingGfn0 + 4},
                         Bad{"read-only", GTF_permit_access | GTF_readonly, 0, kRingGfn0 + 4},
                         Bad{"for another domain", GTF_permit_access, 3, kRingGfn0 + 4},
                         Bad{"beyond RAM", GTF_permit_access, 0, 0x7000'0}}) {
    INFO(bad.what);
    f.grant(4, bad.flags, bad.dom, bad.gfn);
    CHECK(f.refused().find("grant is not usable") != std::string::npos);
    f.expect_released({p});
  }
  f.set("ring-ref", "100000");  // past the table's frames
  CHECK_FALSE(f.refused().empty());
  f.ring(4);
  f.set("ring-ref", "4");
  for (const evtchn_port_t junk : {f.port(DOMID_SELF), evtchn_port_t{4000}}) {  // not for dom0; never allocated
    f.set("event-channel", std::to_string(junk));
    CHECK(f.refused().find("event channel") != std::string::npos);
    f.expect_released({p});
  }
  f.set("event-channel", std::to_string(p));
  f.connects();
  serves(f, 4, p);
}

TEST_CASE("blk backend: after refused connects a correct one connects and serves", "[blk]") {
  Front f;
  const auto p = f.port();
  f.queue("", f.ring(7), p);
  for (const auto& [node, junk] : std::vector<std::pair<std::string, std::string>>{
           {"ring-ref", "7x"}, {"event-channel", "-1"}, {"ring-page-order", "99"}, {"multi-queue-num-queues", ""}}) {
    const auto good = f.store.read(kFe + "/" + node);
    f.set(node, junk);
    CHECK_FALSE(f.refused().empty());
    if (good) f.set(node, *good); else f.unset(node);
  }
  f.expect_released({p});
  f.connects();
  f.connects();  // a repeated connect (a frontend reconnecting) replaces the queue, holds one mapping
  CHECK(f.pins() == 1);
  serves(f, 7, p);
}
