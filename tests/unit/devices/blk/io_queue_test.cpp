// The data path (io_uring and aio=sync) on real temp files: round trips, flush, punch hole, faults, bounds. Tag [blk].
#include "blk/io_queue.hpp"
#include "blk_test_util.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

using kxen::Fd;
using kxen::blk::DiskImage;
using kxen::blk::DiskOptions;
using kxen::blk::IoQueue;
using kxen::blk::SectorRange;
using namespace kxen::blk::test;

namespace {

// A disk image and one queue on it, as a backend I/O thread would hold them.
struct Fixture {
  TempDir dir;
  std::string path;
  std::optional<DiskImage> image;
  std::optional<IoQueue> queue;
  bool sync = false;

  explicit Fixture(std::size_t bytes, const std::function<void(DiskOptions&)>& tweak = {},
                   unsigned depth = 16) {
    path = make_image(dir, "disk.img", bytes, std::byte{0x11});
    auto o = options_for(path);
    // Every case runs on both engines: the kernel's (io_uring) and the queue thread's own (sync).
    o.aio = GENERATE(DiskOptions::Aio::io_uring, DiskOptions::Aio::sync);
    if (tweak) tweak(o);
    sync = o.aio == DiskOptions::Aio::sync;
    auto opened = DiskImage::open(o);
    REQUIRE(opened.has_value());
    image.emplace(std::move(*opened));
    auto created = IoQueue::create(*image, depth);
    REQUIRE(created.has_value());
    queue.emplace(std::move(*created));
  }

  std::vector<char> pread_back(std::size_t offset, std::size_t len) const {
    std::vector<char> out(len);
    const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(::pread(fd.get(), out.data(), len, static_cast<off_t>(offset)) == static_cast<ssize_t>(len));
    return out;
  }

  // submit() hands `queued` requests to io_uring; with aio=sync they were done when queued.
  int submitted(int queued) const { return sync ? 0 : queued; }

  int run_one(const std::function<bool(IoQueue&)>& queue_it, IoQueue::Tag tag) {
    REQUIRE(queue_it(*queue));
    REQUIRE(queue->submit() >= 0);
    return wait_for(*queue, 1).at(tag);
  }
};

}  // namespace

TEST_CASE("io queue: append_iovec joins spans that continue each other, and only those", "[blk]") {
  std::vector<std::byte> memory(4 * 4096);
  std::byte* page = memory.data();
  std::vector<iovec> iov;
  kxen::blk::append_iovec(iov, page, 4096);
  kxen::blk::append_iovec(iov, page + 4096, 4096);  // the next page: one iovec of 8 KiB
  kxen::blk::append_iovec(iov, page + 3 * 4096, 512);  // a gap: a new iovec
  kxen::blk::append_iovec(iov, page + 3 * 4096 + 512, 1024);
  kxen::blk::append_iovec(iov, page, 4096);  // the first page again, behind: a new iovec
  REQUIRE(iov.size() == 3);
  CHECK(iov[0].iov_base == page);
  CHECK(iov[0].iov_len == 8192);
  CHECK(iov[1].iov_base == page + 3 * 4096);
  CHECK(iov[1].iov_len == 1536);
  CHECK(iov[2].iov_base == page);
  CHECK(iov[2].iov_len == 4096);
}

TEST_CASE("io queue: depth is bounded", "[blk]") {
  TempDir dir;
  const auto image = DiskImage::open(options_for(make_image(dir, "d.img", 4096)));
  REQUIRE(image.has_value());
  CHECK(IoQueue::create(*image, 0).error().find("queue depth 0 is out of 1..1024") != std::string::npos);
  CHECK_FALSE(IoQueue::create(*image, 1025).has_value());
  CHECK(IoQueue::create(*image, 1).has_value());
}

TEST_CASE("io queue: scattered write, flush and read round-trip", "[blk]") {
  Fixture f(1 << 20);
  std::vector<char> a(4096, 'a'), b(512, 'b'), c(3584, 'c');
  const iovec out[] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
  REQUIRE(f.queue->queue_write(8192, out, 1));
  CHECK(f.queue->in_flight() == 1);
  REQUIRE(f.queue->submit() == f.submitted(1));
  CHECK(wait_for(*f.queue, 1).at(1) == 0);
  CHECK(f.run_one([](IoQueue& q) { return q.queue_flush(2); }, 2) == 0);

  std::vector<char> back(8192, 0);
  const iovec in[] = {{back.data(), 1000}, {back.data() + 1000, back.size() - 1000}};
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_read(8192, in, 3); }, 3) == 0);
  CHECK(std::memcmp(back.data(), a.data(), 4096) == 0);
  CHECK(back[4096] == 'b');
  CHECK(back[4607] == 'b');
  CHECK(back[4608] == 'c');
  CHECK(back[8191] == 'c');
  CHECK(f.pread_back(8192, 8192) == back);   // it really is in the file
  CHECK(f.pread_back(8191, 1)[0] == 0x11);   // and nothing around it moved
  CHECK(f.pread_back(16384, 1)[0] == 0x11);
  CHECK(f.queue->in_flight() == 0);
}

TEST_CASE("io queue: a FUA write completes after its data is synced", "[blk]") {
  Fixture f(65536);
  std::vector<char> data(4096, 'f');
  const iovec v[] = {{data.data(), data.size()}};
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_write(0, v, 7, true); }, 7) == 0);
  CHECK(f.pread_back(0, 4096) == data);
}

TEST_CASE("io queue: many requests in one batch, each tag reported once", "[blk]") {
  Fixture f(1 << 20, {}, 64);
  std::vector<std::vector<char>> bufs;
  std::vector<iovec> iovs(64);
  for (unsigned i = 0; i < 64; ++i) {
    bufs.emplace_back(4096, static_cast<char>('A' + i % 26));
    iovs[i] = {bufs[i].data(), 4096};
    REQUIRE(f.queue->queue_write(std::uint64_t{i} * 4096, std::span(&iovs[i], 1), 100 + i));
  }
  REQUIRE(f.queue->submit() == f.submitted(64));
  const auto results = wait_for(*f.queue, 64);
  for (const auto& [tag, result] : results) CHECK(result == 0);
  CHECK(f.pread_back(63 * 4096, 4096) == bufs[63]);
}

TEST_CASE("io queue: a full queue refuses until a completion is reaped", "[blk]") {
  Fixture f(65536, {}, 2);
  std::vector<char> buf(512);
  const iovec v[] = {{buf.data(), buf.size()}};
  REQUIRE(f.queue->queue_read(0, v, 1));
  REQUIRE(f.queue->queue_read(512, v, 2));
  CHECK_FALSE(f.queue->queue_read(1024, v, 3));
  CHECK_FALSE(f.queue->queue_flush(3));
  REQUIRE(f.queue->submit() == f.submitted(2));
  wait_for(*f.queue, 2);
  CHECK(f.queue->queue_read(1024, v, 3));
  REQUIRE(f.queue->submit() == f.submitted(1));
  CHECK(wait_for(*f.queue, 1).at(3) == 0);
}

TEST_CASE("io queue: the completion eventfd wakes poll()", "[blk]") {
  Fixture f(65536);
  pollfd p{f.queue->completion_fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);
  REQUIRE(f.queue->queue_flush(1));
  REQUIRE(f.queue->submit() == f.submitted(1));
  CHECK(::poll(&p, 1, 5000) == 1);
  CHECK(f.queue->reap([](IoQueue::Tag, int) {}) == 1);
  CHECK(::poll(&p, 1, 0) == 0);  // reap cleared it
}

TEST_CASE("io queue: discard punches a hole and frees blocks", "[blk]") {
  Fixture f(1 << 20);
  // make_image wrote every byte, so the file is fully allocated; sync so st_blocks is settled.
  CHECK(f.run_one([](IoQueue& q) { return q.queue_flush(1); }, 1) == 0);
  struct stat before {};
  REQUIRE(::stat(f.path.c_str(), &before) == 0);
  CHECK(f.run_one([](IoQueue& q) { return q.queue_discard(0, 512 * 1024, 2); }, 2) == 0);
  struct stat after {};
  REQUIRE(::stat(f.path.c_str(), &after) == 0);
  CHECK(after.st_blocks < before.st_blocks);
  CHECK(after.st_size == before.st_size);  // KEEP_SIZE
  CHECK(f.pread_back(0, 4096) == std::vector<char>(4096, 0));
  CHECK(f.pread_back(512 * 1024, 1)[0] == 0x11);
  CHECK(f.run_one([](IoQueue& q) { return q.queue_discard(0, 0, 3); }, 3) == 0);
}

TEST_CASE("io queue: fail-sectors complete with -EIO without touching the file", "[blk]") {
  Fixture f(65536, [](DiskOptions& o) { o.fail_sectors = {SectorRange{16, 23}}; });  // 8K..12K
  std::vector<char> data(4096, 'x');
  const iovec v[] = {{data.data(), data.size()}};
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_write(10240, v, 1); }, 1) == -EIO);
  CHECK(f.pread_back(10240, 4096) == std::vector<char>(4096, 0x11));
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_read(6144, v, 2); }, 2) == -EIO);
  CHECK(f.run_one([](IoQueue& q) { return q.queue_discard(12287, 1, 3); }, 3) == -EIO);
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_write(4096, v, 4); }, 4) == 0);  // just before
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_read(12288, v, 5); }, 5) == 0);  // just after
  CHECK(f.run_one([](IoQueue& q) { return q.queue_flush(6); }, 6) == 0);
}

TEST_CASE("io queue: a transfer cut short by EOF is -EIO, never partial success", "[blk]") {
  Fixture f(8192);
  std::vector<char> buf(12288);
  const iovec v[] = {{buf.data(), 4096}, {buf.data() + 4096, 8192}};
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_read(0, v, 1); }, 1) == -EIO);
}

TEST_CASE("io queue: readonly disks refuse writes and discards", "[blk]") {
  Fixture f(65536, [](DiskOptions& o) { o.readonly = true; });
  std::vector<char> data(512, 'w');
  const iovec v[] = {{data.data(), data.size()}};
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_write(0, v, 1); }, 1) == -EROFS);
  CHECK(f.run_one([](IoQueue& q) { return q.queue_discard(0, 4096, 2); }, 2) == -EROFS);
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_read(0, v, 3); }, 3) == 0);
  CHECK(data == std::vector<char>(512, 0x11));
}

TEST_CASE("io queue: discard=off, cache=unsafe and oversized requests", "[blk]") {
  Fixture f(65536, [](DiskOptions& o) {
    o.discard = false;
    o.cache = DiskOptions::Cache::unsafe;
  });
  CHECK(f.run_one([](IoQueue& q) { return q.queue_discard(0, 4096, 1); }, 1) == -EOPNOTSUPP);
  REQUIRE(f.queue->queue_flush(2));  // unsafe: done without the kernel, no submit needed
  pollfd p{f.queue->completion_fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 1);  // completions made without the kernel wake the poller too
  CHECK(f.queue->reap([](IoQueue::Tag tag, int result) { CHECK((tag == 2 && result == 0)); }) == 1);
  std::vector<char> byte(1);
  std::vector<iovec> many(IoQueue::kMaxIovecs + 1, iovec{byte.data(), 1});
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_read(0, many, 3); }, 3) == -EINVAL);
}

TEST_CASE("io queue: cache=none round-trips aligned guest buffers", "[blk]") {
  TempDir probe_dir;
  auto probe = options_for(make_image(probe_dir, "p.img", 4096));
  probe.cache = DiskOptions::Cache::none;
  if (!DiskImage::open(probe)) {
    WARN("this file system refuses O_DIRECT; cache=none round trip skipped");
    return;
  }
  Fixture f(65536, [](DiskOptions& o) { o.cache = DiskOptions::Cache::none; });
  std::unique_ptr<char, decltype(&std::free)> page(static_cast<char*>(std::aligned_alloc(4096, 8192)), &std::free);
  std::memset(page.get(), 'd', 4096);
  const iovec out[] = {{page.get(), 4096}};
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_write(4096, out, 1); }, 1) == 0);
  CHECK(f.run_one([](IoQueue& q) { return q.queue_flush(2); }, 2) == 0);
  const iovec in[] = {{page.get() + 4096, 4096}};
  CHECK(f.run_one([&](IoQueue& q) { return q.queue_read(4096, in, 3); }, 3) == 0);
  CHECK(std::memcmp(page.get(), page.get() + 4096, 4096) == 0);
}

TEST_CASE("io queue: destroying a queue waits for what the kernel still owns", "[blk]") {
  Fixture f(1 << 20);
  std::vector<char> data(1 << 20, 'z');
  const iovec v[] = {{data.data(), data.size()}};
  REQUIRE(f.queue->queue_write(0, v, 1));
  REQUIRE(f.queue->queue_flush(2));  // queued, never submitted by the caller
  f.queue.reset();
  CHECK(f.pread_back(0, 16) == std::vector<char>(16, 'z'));
}

TEST_CASE("io queue: the reap callback may queue into the slot it just freed", "[blk]") {
  Fixture f(65536, {}, 1);
  std::vector<char> buf(512);
  const iovec v[] = {{buf.data(), buf.size()}};
  REQUIRE(f.queue->queue_read(0, v, 1));
  REQUIRE(f.queue->submit() == f.submitted(1));
  std::vector<IoQueue::Tag> seen;
  for (int round = 0; seen.size() < 4 && round < 500; ++round) {
    pollfd p{f.queue->completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    f.queue->reap([&](IoQueue::Tag tag, int result) {
      CHECK(result == 0);
      seen.push_back(tag);
      if (tag < 4) CHECK(f.queue->queue_read(512 * tag, v, tag + 1));  // depth 1: same slot
    });
    f.queue->submit();
  }
  CHECK(seen == std::vector<IoQueue::Tag>{1, 2, 3, 4});
  CHECK(f.queue->in_flight() == 0);
}

namespace {

// A sparse 160 MiB file with 1 MiB of data at 0, 70 MiB and 150 MiB: one in each 64 MiB chunk.
constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kLoopBytes = 160 * kMiB;
constexpr std::uint64_t kDataAt[] = {0, 70 * kMiB, 150 * kMiB};

std::string make_sparse_backing(const TempDir& dir) {
  const std::string path = dir.file("loop.img");
  const Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  REQUIRE(fd.valid());
  REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(kLoopBytes)) == 0);
  const std::vector<char> data(kMiB, 'q');
  for (const std::uint64_t at : kDataAt)
    REQUIRE(::pwrite(fd.get(), data.data(), data.size(), static_cast<off_t>(at)) == static_cast<ssize_t>(kMiB));
  REQUIRE(::fsync(fd.get()) == 0);
  return path;
}

bool allocated_at(const std::string& path, std::uint64_t offset) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const off_t data = ::lseek(fd.get(), static_cast<off_t>(offset), SEEK_DATA);
  return data >= 0 && static_cast<std::uint64_t>(data) < offset + kMiB;
}

}  // namespace

TEST_CASE("io queue: a discard done on the queue's thread runs in bounded chunks, and a stopping queue cancels the rest", "[blk]") {
  TempDir dir;
  const std::string backing = make_sparse_backing(dir);
  // Block devices on both engines (BLKDISCARD), files with aio=sync (a synchronous punch).
  enum class Disk { block_io_uring, block_sync, file_sync };
  const Disk disk = GENERATE(Disk::block_io_uring, Disk::block_sync, Disk::file_sync);
  std::optional<kxen::blk::test::LoopDevice> loop;
  if (disk != Disk::file_sync) {
    try {
      loop.emplace(backing);
    } catch (const std::exception& e) {
      FAIL(e.what());
    }
  }
  auto options = options_for(loop ? loop->path() : backing);
  options.aio = disk == Disk::block_io_uring ? DiskOptions::Aio::io_uring : DiskOptions::Aio::sync;
  auto image = DiskImage::open(options);
  REQUIRE(image.has_value());
  REQUIRE(image->is_block_device() == loop.has_value());
  REQUIRE(image->discard_supported());
  auto queue = IoQueue::create(*image, 4);
  REQUIRE(queue.has_value());
  static_assert(kLoopBytes > 2 * IoQueue::kDiscardChunkBytes && kLoopBytes <= 3 * IoQueue::kDiscardChunkBytes);

  const bool finish = GENERATE(true, false);
  REQUIRE(queue->queue_discard(0, kLoopBytes, 1));
  std::size_t reaped = 0;
  int result = 1;
  auto take = [&](IoQueue::Tag tag, int r) {
    CHECK(tag == 1);
    result = r;
    ++reaped;
  };
  // Each poll-and-reap does one chunk; the completion fd stays readable until the last.
  pollfd p{queue->completion_fd(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 0) == 1);
  CHECK(queue->reap(take) == 0);
  CHECK(queue->in_flight() == 1);
  CHECK_FALSE(allocated_at(backing, kDataAt[0]));  // the first chunk is done
  CHECK(allocated_at(backing, kDataAt[1]));
  CHECK(allocated_at(backing, kDataAt[2]));
  if (finish) {
    for (int round = 0; reaped == 0 && round < 10; ++round) {
      REQUIRE(::poll(&p, 1, 0) == 1);
      queue->reap(take);
    }
    CHECK(result == 0);
    CHECK_FALSE(allocated_at(backing, kDataAt[1]));
    CHECK_FALSE(allocated_at(backing, kDataAt[2]));
  } else {
    queue->cancel_discards();
    queue->reap(take);
    CHECK(result == -ECANCELED);
    CHECK(allocated_at(backing, kDataAt[2]));  // the rest was never discarded
  }
  CHECK(reaped == 1);
  CHECK(queue->in_flight() == 0);
}
