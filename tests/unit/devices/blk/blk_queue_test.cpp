// A blkif ring served by BlkQueue's I/O thread: a frontend written with xen/io/ring.h's macros
// on a page of fake guest RAM, real grants (GrantTable over fake memory), a temp image.
#include "../../xen/gnttab/gnttab_fakes.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "blk/blk_queue.hpp"
#include "blk_test_util.hpp"
#include "vmm/backend_context.hpp"
#include "../frontend_ring.hpp"


using namespace kxen;
using namespace kxen::blk;

namespace {

constexpr std::uint64_t kRingGfn = 0x60;
constexpr grant_ref_t kRingRef = 1;
constexpr std::uint64_t kDataGfn0 = 0x70;   // data pages: gfn 0x70 + i, granted as ref 10 + i
constexpr grant_ref_t kDataRef0 = 10;
constexpr std::uint64_t kIndirectGfn = 0x90;
constexpr grant_ref_t kIndirectRef = 40;
constexpr std::size_t kDiskBytes = 1 << 20;

struct BlkWorld {
  kxen::test::GnttabWorld grants;
  PlatformGrantAccess access{grants.table};
  blk::test::TempDir dir;
  std::optional<DiskImage> disk;
  Fd kick{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  Fd frontend_event{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  blkif_front_ring_t front{};
  std::unique_ptr<BlkQueue> queue;

  explicit BlkWorld(const std::function<void(DiskOptions&)>& tune = {}) {
    std::vector<std::byte> bytes(kDiskBytes);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 7 + 3);
    auto options = blk::test::options_for(dir.write("disk.img", bytes));
    if (tune) tune(options);
    auto opened = DiskImage::open(options);
    REQUIRE(opened);
    disk.emplace(std::move(*opened));
    grants.grant_v1(kRingRef, GTF_permit_access, 0, kRingGfn);
    for (grant_ref_t i = 0; i < 16; ++i) grants.grant_v1(kDataRef0 + i, GTF_permit_access, 0, static_cast<std::uint32_t>(kDataGfn0 + i));
    grants.grant_v1(kIndirectRef, GTF_permit_access | GTF_readonly, 0, kIndirectGfn);
    auto* sring = reinterpret_cast<blkif_sring_t*>(page(kRingGfn));
    SHARED_RING_INIT(sring);
    FRONT_RING_INIT(&front, sring, 4096);
    start();
  }
  ~BlkWorld() {
    if (queue) queue->stop();
  }
  void start() {
    BlkQueue::Parts parts;
    parts.label = "blk test";
    parts.disk = &*disk;
    parts.limits.disk_sectors = disk->sectors();
    parts.limits.readonly = disk->readonly();
    parts.limits.max_indirect_segments = 256;
    parts.grants = &access;
    auto ring = access.map(std::span(&kRingRef, 1), true);
    REQUIRE(ring[0]);
    parts.ring_pages.push_back(*ring[0]);
    parts.channel = std::make_unique<kxen::test::TestChannel>(kick.get(), frontend_event.get());
    auto started = BlkQueue::start(std::move(parts));
    REQUIRE(started);
    queue = std::move(*started);
  }
  std::byte* page(std::uint64_t gfn) { return grants.memory.span(gfn << 12, 4096)->data(); }
  void push(const blkif_request_t& req) { push_batch({req}); }
  // Requests made visible together, with at most one kick, as a frontend's batch is.
  void push_batch(std::initializer_list<blkif_request_t> batch) {
    for (const auto& req : batch) *RING_GET_REQUEST(&front, front.req_prod_pvt++) = req;
    if (kxen::test::push_requests(front)) {
      const std::uint64_t one = 1;
      REQUIRE(::write(kick.get(), &one, sizeof one) == sizeof one);
    }
  }
  // Waits up to 5 s for `count` responses.
  std::vector<blkif_response_t> responses(std::size_t count) {
    return kxen::test::wait_responses<blkif_response_t>(front, frontend_event.get(), count);
  }
  std::vector<std::byte> file_bytes(std::uint64_t offset, std::size_t len) {
    std::vector<std::byte> out(len);
    REQUIRE(::pread(disk->fd(), out.data(), len, static_cast<off_t>(offset)) == static_cast<ssize_t>(len));
    return out;
  }
};

blkif_request_t rw(std::uint8_t op, std::uint64_t id, std::uint64_t sector, std::uint8_t nseg) {
  blkif_request_t r{};
  r.operation = op;
  r.id = id;
  r.sector_number = sector;
  r.nr_segments = nseg;
  for (std::uint8_t i = 0; i < nseg; ++i) r.seg[i] = blkif_request_segment{kDataRef0 + i, 0, 7};
  return r;
}

}  // namespace

TEST_CASE("blk queue: writes reach the image, reads come back into granted pages", "[blk][threads]") {
  BlkWorld w;
  for (int i = 0; i < 2; ++i) std::memset(w.page(kDataGfn0 + i), 0x40 + i, 4096);
  w.push(rw(BLKIF_OP_WRITE, 7, 16, 2));
  auto r = w.responses(1);
  CHECK(r[0].id == 7);
  CHECK(r[0].operation == BLKIF_OP_WRITE);
  CHECK(r[0].status == BLKIF_RSP_OKAY);
  const auto written = w.file_bytes(16 * 512, 8192);
  CHECK(written[0] == std::byte{0x40});
  CHECK(written[8191] == std::byte{0x41});

  std::memset(w.page(kDataGfn0), 0, 4096);
  auto read = rw(BLKIF_OP_READ, 8, 0, 1);
  read.seg[0].first_sect = 1;  // a sub-page segment: sector 0 of the disk lands at byte 512
  read.seg[0].last_sect = 1;
  w.push(read);
  r = w.responses(1);
  CHECK(r[0].status == BLKIF_RSP_OKAY);
  CHECK(w.page(kDataGfn0)[512] == std::byte{3});
  CHECK(w.page(kDataGfn0)[513] == std::byte{10});
  CHECK(w.page(kDataGfn0)[0] == std::byte{0});  // outside the segment: untouched

  blkif_request_t flush{};
  flush.operation = BLKIF_OP_FLUSH_DISKCACHE;
  flush.id = 9;
  w.push(flush);
  r = w.responses(1);
  CHECK(r[0].status == BLKIF_RSP_OKAY);
  CHECK(w.queue->stats().requests == 3);
}

TEST_CASE("blk queue: indirect requests carry many segments", "[blk][threads]") {
  BlkWorld w;
  auto* segs = reinterpret_cast<blkif_request_segment*>(w.page(kIndirectGfn));
  for (std::uint32_t i = 0; i < 16; ++i) {
    segs[i] = blkif_request_segment{kDataRef0 + i, 0, 7};
    std::memset(w.page(kDataGfn0 + i), static_cast<int>(i + 1), 4096);
  }
  blkif_request_t req{};
  auto* ind = reinterpret_cast<blkif_request_indirect_t*>(&req);
  ind->operation = BLKIF_OP_INDIRECT;
  ind->indirect_op = BLKIF_OP_WRITE;
  ind->nr_segments = 16;
  ind->id = 77;
  ind->sector_number = 64;
  ind->indirect_grefs[0] = kIndirectRef;
  w.push(req);
  auto r = w.responses(1);
  CHECK(r[0].id == 77);
  CHECK(r[0].status == BLKIF_RSP_OKAY);
  CHECK(w.file_bytes(64 * 512 + 15 * 4096, 1)[0] == std::byte{16});
}

TEST_CASE("blk queue: hostile requests get error responses and the queue goes on", "[blk][threads]") {
  BlkWorld w;
  auto bad_ref = rw(BLKIF_OP_READ, 1, 0, 1);
  bad_ref.seg[0].gref = 3000;  // beyond the grant table
  w.push(bad_ref);
  w.push(rw(BLKIF_OP_READ, 2, kDiskBytes / 512 - 4, 1));  // 8 sectors from 4 before the end
  auto too_many = rw(BLKIF_OP_WRITE, 3, 0, 11);
  too_many.nr_segments = 200;
  w.push(too_many);
  auto bad_sect = rw(BLKIF_OP_WRITE, 4, 0, 1);
  bad_sect.seg[0].first_sect = 5;
  bad_sect.seg[0].last_sect = 2;
  w.push(bad_sect);
  blkif_request_t unknown{};
  unknown.operation = 99;
  unknown.id = 5;
  w.push(unknown);
  w.grants.grant_v1(kDataRef0 + 5, GTF_permit_access | GTF_readonly, 0, kDataGfn0 + 5);
  auto ro_read = rw(BLKIF_OP_READ, 6, 0, 1);  // a read must write into a read-only grant
  ro_read.seg[0].gref = kDataRef0 + 5;
  w.push(ro_read);
  auto r = w.responses(6);
  for (const auto& rsp : r) {
    INFO("id " << rsp.id);
    CHECK(rsp.status != BLKIF_RSP_OKAY);
  }
  CHECK(r[4].status == BLKIF_RSP_EOPNOTSUPP);
  w.push(rw(BLKIF_OP_READ, 10, 0, 1));  // still served
  CHECK(w.responses(1)[0].status == BLKIF_RSP_OKAY);
  CHECK(w.grants.flags(kDataRef0) == GTF_permit_access);  // every pin released
}

TEST_CASE("blk queue: a read-only disk refuses writes", "[blk][threads]") {
  BlkWorld w([](DiskOptions& o) { o.readonly = true; });
  w.push(rw(BLKIF_OP_WRITE, 1, 0, 1));
  CHECK(w.responses(1)[0].status == BLKIF_RSP_ERROR);
  CHECK(w.file_bytes(0, 1)[0] == std::byte{3});
}

TEST_CASE("blk queue: a wild producer index disables the ring, and stop still returns", "[blk][threads]") {
  BlkWorld w;
  kxen::test::shared_index(w.front.sring->req_prod).store(w.front.req_prod_pvt + 1000);
  const std::uint64_t one = 1;
  REQUIRE(::write(w.kick.get(), &one, sizeof one) == sizeof one);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  w.queue->stop();  // returns: the disabled ring does not hold the I/O thread
  CHECK(kxen::test::shared_index(w.front.sring->rsp_prod).load() == 0);  // nothing was answered for the bogus requests
  CHECK(w.grants.flags(kRingRef) == GTF_permit_access);  // the ring page is unmapped
}

TEST_CASE("blk queue: a resized image bounds requests by its new size", "[blk][threads]") {
  BlkWorld w;
  const std::uint64_t old_end = kDiskBytes / 512;
  std::memset(w.page(kDataGfn0), 0x5a, 4096);
  w.push(rw(BLKIF_OP_WRITE, 1, old_end, 1));  // past the end
  CHECK(w.responses(1)[0].status == BLKIF_RSP_ERROR);

  REQUIRE(::ftruncate(w.disk->fd(), 2 * kDiskBytes) == 0);
  REQUIRE(w.disk->refresh_size() == true);
  w.push(rw(BLKIF_OP_WRITE, 2, old_end, 1));
  CHECK(w.responses(1)[0].status == BLKIF_RSP_OKAY);
  CHECK(w.file_bytes(kDiskBytes, 1)[0] == std::byte{0x5a});

  REQUIRE(::ftruncate(w.disk->fd(), kDiskBytes / 2) == 0);
  REQUIRE(w.disk->refresh_size() == true);
  w.push(rw(BLKIF_OP_READ, 3, old_end / 2 - 4, 1));  // 8 sectors from 4 before the new end
  w.push(rw(BLKIF_OP_READ, 4, old_end / 2 - 8, 1));  // the last 8 sectors
  auto r = w.responses(2);
  CHECK(r[0].status == BLKIF_RSP_ERROR);
  CHECK(r[1].status == BLKIF_RSP_OKAY);
  struct stat st {};
  REQUIRE(::fstat(w.disk->fd(), &st) == 0);
  CHECK(st.st_size == static_cast<off_t>(kDiskBytes / 2));  // nothing written past the end
}

TEST_CASE("blk queue: a full ring reused many times answers every request once and leaves no pin", "[blk][threads]") {
  BlkWorld w;
  const RING_IDX slots = RING_SIZE(&w.front);
  constexpr int kRounds = 24;
  constexpr std::uint8_t kSegments = BLKIF_MAX_SEGMENTS_PER_REQUEST;
  for (std::uint8_t i = 0; i < kSegments; ++i) std::memset(w.page(kDataGfn0 + i), 0x30 + i, 4096);
  std::vector<int> answered(kRounds * slots, 0);
  for (int round = 0; round < kRounds; ++round) {
    // Writes in even rounds, reads in odd ones; every request covers its own 44 KiB of the image.
    const std::uint8_t op = round % 2 == 0 ? BLKIF_OP_WRITE : BLKIF_OP_READ;
    for (RING_IDX i = 0; i < slots; ++i) {
      const std::uint64_t id = static_cast<std::uint64_t>(round) * slots + i;
      const std::uint64_t sector = (i % 16) * kSegments * 8;
      w.push(rw(op, id, sector, kSegments));
    }
    for (const auto& rsp : w.responses(slots)) {
      INFO("id " << rsp.id);
      REQUIRE(rsp.id < answered.size());
      CHECK(rsp.status == BLKIF_RSP_OKAY);
      CHECK(rsp.operation == op);
      ++answered[rsp.id];
    }
  }
  for (std::size_t id = 0; id < answered.size(); ++id) {
    INFO("id " << id);
    CHECK(answered[id] == 1);
  }
  CHECK(w.queue->stats().requests == answered.size());
  CHECK(w.queue->stats().errors == 0);
  // Nothing in flight: the ring asks for a kick at the next request again.
  CHECK(kxen::test::shared_index(w.front.sring->req_event).load() == w.front.req_prod_pvt + 1);
  for (std::uint8_t i = 0; i < kSegments; ++i) CHECK(w.grants.flags(kDataRef0 + i) == GTF_permit_access);
  CHECK(w.file_bytes(15 * kSegments * 8 * 512 + 10 * 4096, 1)[0] == std::byte{0x30 + 10});
}

TEST_CASE("blk queue: a barrier answered in the pass that took it lets the requests behind it run", "[blk][threads]") {
  // Done on the spot, the barrier's completion is the only sign that the ring holds more work.
  using Tune = std::function<void(DiskOptions&)>;
  const auto [name, tune] = GENERATE(
      std::pair<const char*, Tune>{"aio=sync", [](DiskOptions& o) { o.aio = DiskOptions::Aio::sync; }},
      std::pair<const char*, Tune>{"cache=unsafe", [](DiskOptions& o) { o.cache = DiskOptions::Cache::unsafe; }});
  INFO(name);
  BlkWorld w(tune);
  w.push_batch({rw(BLKIF_OP_WRITE, 1, 0, 1), rw(BLKIF_OP_WRITE_BARRIER, 2, 8, 0), rw(BLKIF_OP_READ, 3, 0, 1),
                rw(BLKIF_OP_FLUSH_DISKCACHE, 4, 0, 0)});
  std::vector<std::uint64_t> ids;
  for (const auto& rsp : w.responses(4)) {
    CHECK(rsp.status == BLKIF_RSP_OKAY);
    ids.push_back(rsp.id);
  }
  REQUIRE(ids.size() == 4);
  CHECK(ids[0] == 1);  // the barrier waits for the write before it
  CHECK(ids[1] == 2);
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::uint64_t>{1, 2, 3, 4});
  // The ring was re-armed: a later request's kick is asked for and answered.
  w.push(rw(BLKIF_OP_READ, 5, 0, 1));
  CHECK(w.responses(1)[0].id == 5);
}
