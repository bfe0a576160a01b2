// blkif request decoding: good direct, indirect, flush and discard requests, and every
// malformed one a hostile frontend can send. Tag [blk].
#include "blk/blkif_request.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <vector>

using namespace kxen::blk;

namespace {

constexpr std::uint64_t kDisk = 1 << 20;  // 512 MiB
const BlkLimits kLimits = [] {
  BlkLimits l;
  l.disk_sectors = kDisk;
  l.discard = true;
  l.max_indirect_segments = 1024;
  return l;
}();

blkif_request_t rw(std::uint8_t op, std::uint64_t sector, std::initializer_list<blkif_request_segment> segs) {
  blkif_request_t req;
  std::memset(&req, 0, sizeof(req));
  req.operation = op;
  req.nr_segments = static_cast<std::uint8_t>(segs.size());
  req.id = 0xfeed0000 + op;
  req.sector_number = sector;
  std::size_t i = 0;
  for (const auto& s : segs) req.seg[i++] = s;
  return req;
}

blkif_request_t discard(std::uint64_t sector, std::uint64_t count, std::uint8_t flag = 0) {
  blkif_request_discard_t d;
  std::memset(&d, 0, sizeof(d));
  d.operation = BLKIF_OP_DISCARD;
  d.flag = flag;
  d.id = 77;
  d.sector_number = sector;
  d.nr_sectors = count;
  blkif_request_t req;
  std::memset(&req, 0, sizeof(req));
  std::memcpy(&req, &d, sizeof(d));
  return req;
}

blkif_request_t indirect(std::uint8_t op, std::uint64_t sector, std::uint16_t nseg) {
  blkif_request_indirect_t ind;
  std::memset(&ind, 0, sizeof(ind));
  ind.operation = BLKIF_OP_INDIRECT;
  ind.indirect_op = op;
  ind.nr_segments = nseg;
  ind.id = 4242;
  ind.sector_number = sector;
  for (grant_ref_t i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; ++i) ind.indirect_grefs[i] = 100 + i;
  blkif_request_t req;
  std::memcpy(&req, &ind, sizeof(ind));
  return req;
}

// Granted pages by reference, each a full array of segments; unknown refs fail like Xen's.
struct FakeGrants {
  std::map<grant_ref_t, std::array<blkif_request_segment, kSegmentsPerIndirectPage>> pages;
  std::vector<grant_ref_t> reads;
  IndirectPageReader reader() {
    return [this](grant_ref_t ref, std::span<std::byte> out) -> std::int16_t {
      reads.push_back(ref);
      auto it = pages.find(ref);
      if (it == pages.end() || out.size() != kBlkifPageSize) return GNTST_bad_gntref;
      std::memcpy(out.data(), it->second.data(), out.size());
      return GNTST_okay;
    };
  }
  // Segment n of the request is {1000 + n, n % 8, 7}.
  void fill(grant_ref_t first_ref, std::uint32_t pages_needed) {
    for (std::uint32_t p = 0; p < pages_needed; ++p) {
      auto& page = pages[first_ref + p];
      for (std::uint32_t i = 0; i < page.size(); ++i) {
        const std::uint32_t n = p * kSegmentsPerIndirectPage + i;
        page[i] = blkif_request_segment{1000 + n, static_cast<std::uint8_t>(n % 8), 7};
      }
    }
  }
};

const IndirectPageReader kNoReader;

void check_fails(const blkif_request_t& req, const BlkLimits& limits, std::int16_t status,
                 std::uint8_t echoed_op, const IndirectPageReader& reader = kNoReader) {
  auto r = decode_request(req, limits, reader);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().status == status);
  CHECK(r.error().operation == echoed_op);
  CHECK(r.error().id == req.id);
  CHECK_FALSE(r.error().reason.empty());
}

}  // namespace

TEST_CASE("blkif: a direct read decodes with its segments", "[blk]") {
  auto r = decode_request(rw(BLKIF_OP_READ, 64, {{5, 0, 7}, {6, 2, 3}, {7, 7, 7}}), kLimits, kNoReader);
  REQUIRE(r.has_value());
  CHECK(r->id == 0xfeed0000);
  CHECK(r->operation == BLKIF_OP_READ);
  CHECK(r->sector == 64);
  CHECK(r->nr_sectors == 8 + 2 + 1);
  REQUIRE(r->segments.size() == 3);
  CHECK(r->segments[1].gref == 6);
  CHECK(r->segments[1].offset_bytes() == 1024);
  CHECK(r->segments[1].length_bytes() == 1024);
  CHECK(r->segments[2].offset_bytes() == 3584);
  CHECK_FALSE(r->indirect);
}

TEST_CASE("blkif: segment counts are bounded", "[blk]") {
  check_fails(rw(BLKIF_OP_READ, 0, {}), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ);
  check_fails(rw(BLKIF_OP_WRITE, 0, {}), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_WRITE);
  auto eleven = rw(BLKIF_OP_WRITE, 0, {});
  eleven.nr_segments = 11;
  for (auto& s : eleven.seg) s = {1, 0, 7};
  CHECK(decode_request(eleven, kLimits, kNoReader).has_value());
  auto twelve = eleven;
  twelve.nr_segments = 12;
  check_fails(twelve, kLimits, BLKIF_RSP_ERROR, BLKIF_OP_WRITE);
  twelve.nr_segments = 255;
  check_fails(twelve, kLimits, BLKIF_RSP_ERROR, BLKIF_OP_WRITE);
}

TEST_CASE("blkif: segment sector ranges must lie in one page", "[blk]") {
  check_fails(rw(BLKIF_OP_READ, 0, {{1, 0, 7}, {2, 4, 3}}), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ);
  check_fails(rw(BLKIF_OP_READ, 0, {{1, 0, 8}}), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ);
  check_fails(rw(BLKIF_OP_READ, 0, {{1, 255, 255}}), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ);
  auto r = decode_request(rw(BLKIF_OP_READ, 0, {{1, 0, 7}, {2, 4, 3}}), kLimits, kNoReader);
  CHECK_THAT(r.error().reason, Catch::Contains("segment 1"));
}

TEST_CASE("blkif: requests past the end of the disk fail, without overflow", "[blk]") {
  CHECK(decode_request(rw(BLKIF_OP_READ, kDisk - 8, {{1, 0, 7}}), kLimits, kNoReader).has_value());
  check_fails(rw(BLKIF_OP_READ, kDisk - 7, {{1, 0, 7}}), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ);
  check_fails(rw(BLKIF_OP_READ, kDisk, {{1, 0, 0}}), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ);
  const auto huge = std::numeric_limits<std::uint64_t>::max() - 3;  // sector + 8 wraps to 4
  check_fails(rw(BLKIF_OP_WRITE, huge, {{1, 0, 7}}), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_WRITE);
}

TEST_CASE("blkif: a read-only disk refuses everything that writes", "[blk]") {
  BlkLimits ro = kLimits;
  ro.readonly = true;
  CHECK(decode_request(rw(BLKIF_OP_READ, 0, {{1, 0, 7}}), ro, kNoReader).has_value());
  check_fails(rw(BLKIF_OP_WRITE, 0, {{1, 0, 7}}), ro, BLKIF_RSP_ERROR, BLKIF_OP_WRITE);
  check_fails(rw(BLKIF_OP_WRITE_BARRIER, 0, {}), ro, BLKIF_RSP_ERROR, BLKIF_OP_WRITE_BARRIER);
  check_fails(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, {{1, 0, 7}}), ro, BLKIF_RSP_ERROR, BLKIF_OP_FLUSH_DISKCACHE);
  check_fails(discard(0, 8), ro, BLKIF_RSP_ERROR, BLKIF_OP_DISCARD);
  check_fails(indirect(BLKIF_OP_WRITE, 0, 20), ro, BLKIF_RSP_ERROR, BLKIF_OP_WRITE);
  // A flush with no data changes nothing.
  CHECK(decode_request(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, {}), ro, kNoReader).has_value());
}

TEST_CASE("blkif: flush and barrier, with or without data", "[blk]") {
  auto flush = decode_request(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, {}), kLimits, kNoReader);
  REQUIRE(flush.has_value());
  CHECK(flush->operation == BLKIF_OP_FLUSH_DISKCACHE);
  CHECK(flush->nr_sectors == 0);
  CHECK(flush->segments.empty());
  auto barrier = decode_request(rw(BLKIF_OP_WRITE_BARRIER, 8, {{3, 0, 7}}), kLimits, kNoReader);
  REQUIRE(barrier.has_value());
  CHECK(barrier->operation == BLKIF_OP_WRITE_BARRIER);
  CHECK(barrier->nr_sectors == 8);
  // Flush with a huge sector but no data is not a range error.
  CHECK(decode_request(rw(BLKIF_OP_FLUSH_DISKCACHE, ~0ull, {}), kLimits, kNoReader).has_value());
  BlkLimits none = kLimits;
  none.flush = none.barrier = false;
  check_fails(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, {}), none, BLKIF_RSP_EOPNOTSUPP, BLKIF_OP_FLUSH_DISKCACHE);
  check_fails(rw(BLKIF_OP_WRITE_BARRIER, 0, {}), none, BLKIF_RSP_EOPNOTSUPP, BLKIF_OP_WRITE_BARRIER);
}

TEST_CASE("blkif: discard", "[blk]") {
  auto d = decode_request(discard(100, 2048, BLKIF_DISCARD_SECURE), kLimits, kNoReader);
  REQUIRE(d.has_value());
  CHECK(d->id == 77);
  CHECK(d->operation == BLKIF_OP_DISCARD);
  CHECK(d->sector == 100);
  CHECK(d->nr_sectors == 2048);
  CHECK_FALSE(d->secure_discard);  // ignored unless discard-secure is offered
  BlkLimits secure = kLimits;
  secure.discard_secure = true;
  CHECK(decode_request(discard(100, 8, BLKIF_DISCARD_SECURE), secure, kNoReader)->secure_discard);
  CHECK(decode_request(discard(0, kDisk), kLimits, kNoReader).has_value());
  check_fails(discard(1, kDisk), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_DISCARD);
  check_fails(discard(8, ~0ull - 4), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_DISCARD);
  check_fails(discard(~0ull, 2), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_DISCARD);
  BlkLimits off = kLimits;
  off.discard = false;
  check_fails(discard(0, 8), off, BLKIF_RSP_EOPNOTSUPP, BLKIF_OP_DISCARD);
}

TEST_CASE("blkif: unknown operations are EOPNOTSUPP", "[blk]") {
  for (std::uint8_t op : {std::uint8_t{BLKIF_OP_RESERVED_1}, std::uint8_t{7}, std::uint8_t{255}}) {
    check_fails(rw(op, 0, {{1, 0, 7}}), kLimits, BLKIF_RSP_EOPNOTSUPP, op);
  }
}

TEST_CASE("blkif: an indirect request across two pages", "[blk]") {
  FakeGrants grants;
  grants.fill(100, 2);
  auto r = decode_request(indirect(BLKIF_OP_WRITE, 16, 600), kLimits, grants.reader());
  REQUIRE(r.has_value());
  CHECK(grants.reads == std::vector<grant_ref_t>{100, 101});  // only the pages needed
  CHECK(r->id == 4242);
  CHECK(r->operation == BLKIF_OP_WRITE);  // the indirect_op, as the response must echo
  CHECK(r->indirect);
  CHECK(r->sector == 16);
  REQUIRE(r->segments.size() == 600);
  CHECK(r->segments[513].gref == 1513);
  CHECK(r->segments[513].first_sect == 1);
  std::uint64_t sectors = 0;
  for (std::uint32_t n = 0; n < 600; ++n) sectors += 8 - n % 8;
  CHECK(r->nr_sectors == sectors);
}

TEST_CASE("blkif: malformed indirect requests fail alone", "[blk]") {
  FakeGrants grants;
  grants.fill(100, 8);
  auto reader = grants.reader();
  check_fails(indirect(BLKIF_OP_READ, 0, 0), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ, reader);
  check_fails(indirect(BLKIF_OP_READ, 0, 1025), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ, reader);
  BlkLimits big = kLimits;
  big.max_indirect_segments = 100000;  // clamped to 8 pages of 512
  CHECK(decode_request(indirect(BLKIF_OP_READ, 0, 4096), big, reader).has_value());
  check_fails(indirect(BLKIF_OP_READ, 0, 4097), big, BLKIF_RSP_ERROR, BLKIF_OP_READ, reader);
  check_fails(indirect(BLKIF_OP_FLUSH_DISKCACHE, 0, 4), kLimits, BLKIF_RSP_ERROR,
              BLKIF_OP_FLUSH_DISKCACHE, reader);
  check_fails(indirect(BLKIF_OP_INDIRECT, 0, 4), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_INDIRECT, reader);
  check_fails(indirect(BLKIF_OP_READ, kDisk - 8, 2), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ, reader);
  check_fails(indirect(BLKIF_OP_READ, 0, 4), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ, kNoReader);
  BlkLimits no_indirect = kLimits;
  no_indirect.max_indirect_segments = 0;
  check_fails(indirect(BLKIF_OP_READ, 0, 4), no_indirect, BLKIF_RSP_EOPNOTSUPP, BLKIF_OP_READ, reader);

  grants.pages[101][530 - 512].last_sect = 9;  // garbage in the second page
  check_fails(indirect(BLKIF_OP_READ, 0, 600), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ, reader);
  CHECK_THAT(decode_request(indirect(BLKIF_OP_READ, 0, 600), kLimits, reader).error().reason,
             Catch::Contains("530"));
  CHECK(decode_request(indirect(BLKIF_OP_READ, 0, 500), kLimits, reader).has_value());  // next one is fine

  grants.pages.erase(101);  // a grant that cannot be read
  grants.reads.clear();
  check_fails(indirect(BLKIF_OP_READ, 0, 600), kLimits, BLKIF_RSP_ERROR, BLKIF_OP_READ, reader);
  CHECK(grants.reads == std::vector<grant_ref_t>{100, 101});
}

TEST_CASE("blkif: responses carry id, op and status with zeroed padding", "[blk]") {
  const blkif_response_t rsp = make_response(0x1122334455667788ull, BLKIF_OP_WRITE, BLKIF_RSP_ERROR);
  CHECK(rsp.id == 0x1122334455667788ull);
  CHECK(rsp.operation == BLKIF_OP_WRITE);
  CHECK(rsp.status == BLKIF_RSP_ERROR);
  unsigned char bytes[sizeof(rsp)];
  std::memcpy(bytes, &rsp, sizeof(rsp));
  CHECK(bytes[9] == 0);
  for (std::size_t i = 12; i < sizeof(rsp); ++i) CHECK(bytes[i] == 0);
}
