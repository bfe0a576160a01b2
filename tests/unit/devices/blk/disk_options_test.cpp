// `--disk PATH,...` parsing, its one-line errors, and Xen's vdev numbering. Tag [blk].
#include "blk/disk_options.hpp"

#include <catch2/catch.hpp>

#include <string>

using kxen::blk::DiskOptions;
using kxen::blk::parse_disk_option;
using kxen::blk::SectorRange;
using kxen::blk::xen_vdev_number;
using kxen::blk::xvd_name;

namespace {

// Parses a spec that must fail; returns the error, checked to be one line naming the problem.
std::string error_of(const std::string& spec) {
  const auto parsed = parse_disk_option(spec);
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().find('\n') == std::string::npos);
  return parsed.error();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("disk option: a bare path gets the defaults", "[blk]") {
  const auto o = parse_disk_option("/var/lib/kxen/disk.img");
  REQUIRE(o.has_value());
  CHECK(o->path == "/var/lib/kxen/disk.img");
  CHECK(o->vdev.empty());
  CHECK_FALSE(o->readonly);
  CHECK(o->cache == DiskOptions::Cache::writeback);
  CHECK(o->discard);
  CHECK(o->queues == 0);
  CHECK(o->aio == DiskOptions::Aio::io_uring);
  CHECK(o->fail_sectors.empty());
}

TEST_CASE("disk option: every key", "[blk]") {
  const auto o = parse_disk_option(
      "disk.img,vdev=xvdb,readonly,discard=off,cache=none,queues=4,fail-sectors=8-15,fail-sectors=100");
  REQUIRE(o.has_value());
  CHECK(o->path == "disk.img");
  CHECK(o->vdev == "xvdb");
  CHECK(o->readonly);
  CHECK_FALSE(o->discard);
  CHECK(o->cache == DiskOptions::Cache::none);
  CHECK(o->queues == 4);
  REQUIRE(o->fail_sectors.size() == 2);
  CHECK(o->fail_sectors[0] == SectorRange{8, 15});
  CHECK(o->fail_sectors[1] == SectorRange{100, 100});

  CHECK(parse_disk_option("d,cache=unsafe")->cache == DiskOptions::Cache::unsafe);
  CHECK(parse_disk_option("d,cache=writeback")->cache == DiskOptions::Cache::writeback);
  CHECK_FALSE(parse_disk_option("d,readonly=off")->readonly);
  CHECK(parse_disk_option("d,readonly=on")->readonly);
  CHECK(parse_disk_option("d,queues=16")->queues == 16);
  CHECK(parse_disk_option("d,persistent=on")->persistent);
  CHECK_FALSE(parse_disk_option("d")->persistent);
  CHECK_FALSE(parse_disk_option("d,persistent=maybe"));
  CHECK(parse_disk_option("d,queues=1")->queues == 1);
  CHECK(parse_disk_option("d,aio=sync")->aio == DiskOptions::Aio::sync);
  CHECK(parse_disk_option("d,aio=io_uring")->aio == DiskOptions::Aio::io_uring);
}

TEST_CASE("disk option: errors are one clear line", "[blk]") {
  CHECK(contains(error_of("d.img,colour=blue"), "unknown option 'colour'"));
  CHECK(contains(error_of("d.img,colour=blue"), "disk d.img:"));
  CHECK(contains(error_of("d.img,discard=maybe"), "discard=maybe: expected on or off"));
  CHECK(contains(error_of("d.img,cache=directsync"), "expected writeback, none or unsafe"));
  CHECK(contains(error_of("d.img,readonly=yes"), "readonly=yes"));
  CHECK(contains(error_of("d.img,aio=native"), "aio=native: expected io_uring or sync"));
  CHECK(contains(error_of("d.img,aio=auto"), "aio=auto: expected io_uring or sync"));
  CHECK(contains(error_of("d.img,aio=sync,aio=sync"), "aio given twice"));
  for (const char* vdev : {"sda", "xvd", "xvdA", "xvdaaa", "xvda1", "hda", ""})
    CHECK(contains(error_of(std::string("d.img,vdev=") + vdev), "expected a Xen disk name xvda..xvdzz"));
  for (const char* n : {"0", "17", "abc", "-1", "4x", ""})
    CHECK(contains(error_of(std::string("d.img,queues=") + n), "a number in 1..16"));
  for (const char* r : {"9-3", "x-y", "5-", "-5", "1-2-3", ""})
    CHECK(contains(error_of(std::string("d.img,fail-sectors=") + r), "START <= END"));
  CHECK(contains(error_of("d.img,vdev"), "vdev needs a value"));
  CHECK(contains(error_of("d.img,cache=none,cache=unsafe"), "cache given twice"));
  CHECK(contains(error_of("d.img,readonly,readonly"), "readonly given twice"));
  CHECK(contains(error_of("d.img,"), "empty option"));
  CHECK(contains(error_of("d.img,,readonly"), "empty option"));
  CHECK(contains(error_of(",readonly"), "the path is empty"));
  CHECK(contains(error_of(""), "the path is empty"));
}

TEST_CASE("vdev numbers follow Xen's vbd-interface.txt", "[blk]") {
  CHECK(xen_vdev_number("xvda") == 51712u);
  CHECK(xen_vdev_number("xvdb") == 51728u);
  CHECK(xen_vdev_number("xvdp") == ((202u << 8) | (15u << 4)));
  CHECK(xen_vdev_number("xvdq") == ((1u << 28) | (16u << 8)));
  CHECK(xen_vdev_number("xvdz") == ((1u << 28) | (25u << 8)));
  CHECK(xen_vdev_number("xvdaa") == ((1u << 28) | (26u << 8)));
  CHECK(xen_vdev_number("xvdtq") == ((1u << 28) | (536u << 8)));  // the doc's own example
  CHECK(xen_vdev_number("xvdzz") == ((1u << 28) | (701u << 8)));
  for (const char* bad : {"", "xvd", "sda", "xvdA", "xvd1", "xvdaaa", "xvda0", "XVDA", " xvda"})
    CHECK_FALSE(xen_vdev_number(bad).has_value());
}

TEST_CASE("xvd names in order round-trip to disk numbers", "[blk]") {
  CHECK(xvd_name(0) == "xvda");
  CHECK(xvd_name(25) == "xvdz");
  CHECK(xvd_name(26) == "xvdaa");
  CHECK(xvd_name(701) == "xvdzz");
  CHECK_FALSE(xvd_name(702).has_value());
  for (unsigned i = 0; i < 702; ++i) {
    const auto number = xen_vdev_number(*xvd_name(i));
    REQUIRE(number.has_value());
    const std::uint32_t disk = i < 16 ? (*number >> 4) & 0xf : (*number >> 8) & 0xfffff;
    CHECK(disk == i);
  }
}

TEST_CASE("sector ranges overlap byte ranges sector by sector", "[blk]") {
  const SectorRange r{8, 15};  // bytes 4096..8191
  CHECK(r.overlaps(4096, 512));
  CHECK(r.overlaps(8191, 1));
  CHECK(r.overlaps(0, 4097));
  CHECK(r.overlaps(0, 1 << 20));
  CHECK_FALSE(r.overlaps(0, 4096));
  CHECK_FALSE(r.overlaps(8192, 4096));
  CHECK_FALSE(r.overlaps(4096, 0));
  CHECK(SectorRange{0, UINT64_MAX}.overlaps(UINT64_MAX - 10, 100));  // no wrap-around
}
