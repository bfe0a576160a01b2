// Opening guest disks: geometry, discard, locking, and the one-line errors. Tag [blk].
#include "blk/disk_image.hpp"
#include "blk_test_util.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>

using kxen::Fd;
using kxen::blk::DiskImage;
using kxen::blk::DiskOptions;
using namespace kxen::blk::test;

namespace {

// chattr +i / -i through the ioctl; false where the file system or privileges refuse it.
bool set_immutable(const std::string& path, bool on) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  int flags = 0;
  if (!fd.valid() || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) return false;
  flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
  return ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) == 0;
}

bool power_of_two(std::uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

TEST_CASE("disk image: a raw file's geometry", "[blk]") {
  TempDir dir;
  const auto path = make_image(dir, "disk.img", 1 << 20);
  const auto image = DiskImage::open(options_for(path));
  REQUIRE(image.has_value());
  CHECK(image->fd() >= 0);
  CHECK_FALSE(image->is_block_device());
  CHECK_FALSE(image->readonly());
  CHECK(image->size_bytes() == (1u << 20));
  CHECK(image->sectors() == 2048);
  CHECK(image->logical_sector_size() == 512);
  CHECK(image->physical_sector_size() >= 512);
  CHECK(image->physical_sector_size() <= 4096);
  CHECK(power_of_two(image->physical_sector_size()));
  CHECK(image->discard_supported());  // ext4 and tmpfs both punch holes
  CHECK(power_of_two(image->discard_granularity()));
  CHECK(image->discard_alignment() == 0);
}

TEST_CASE("disk image: a partial last sector is not offered", "[blk]") {
  TempDir dir;
  const auto image = DiskImage::open(options_for(make_image(dir, "odd.img", 4096 + 100)));
  REQUIRE(image.has_value());
  CHECK(image->size_bytes() == 4196);
  CHECK(image->sectors() == 8);
}

TEST_CASE("disk image: readonly and discard=off turn discard off", "[blk]") {
  TempDir dir;
  auto o = options_for(make_image(dir, "disk.img", 65536));
  o.discard = false;
  CHECK_FALSE(DiskImage::open(o)->discard_supported());
  o.discard = true;
  o.readonly = true;
  const auto ro = DiskImage::open(o);
  REQUIRE(ro.has_value());
  CHECK(ro->readonly());
  CHECK_FALSE(ro->discard_supported());
}

TEST_CASE("disk image: clear errors for missing, directory and empty disks", "[blk]") {
  TempDir dir;
  const auto missing = dir.file("nope.img");
  CHECK(DiskImage::open(options_for(missing)).error() == "disk " + missing + ": no such file");
  std::filesystem::create_directory(dir.file("d"));
  CHECK(DiskImage::open(options_for(dir.file("d"))).error() == "disk " + dir.file("d") + " is a directory");
  const auto empty = make_image(dir, "empty.img", 0);
  CHECK(DiskImage::open(options_for(empty)).error().find("is empty") != std::string::npos);
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  CHECK(DiskImage::open(options_for(dir.file("fifo"))).error() ==
        "disk " + dir.file("fifo") + " is not a regular file or a block device");
}

TEST_CASE("disk image: a second writer is refused by flock", "[blk]") {
  TempDir dir;
  auto o = options_for(make_image(dir, "disk.img", 65536));
  const std::string in_use = "disk " + o.path + " is in use by another process (flock)";
  {
    const auto first = DiskImage::open(o);
    REQUIRE(first.has_value());
    CHECK(DiskImage::open(o).error() == in_use);
    auto ro = o;
    ro.readonly = true;
    CHECK(DiskImage::open(ro).error() == in_use);  // a reader must not see a half-written disk
  }
  CHECK(DiskImage::open(o).has_value());  // the lock went with the first image
  o.readonly = true;
  const auto reader1 = DiskImage::open(o);
  const auto reader2 = DiskImage::open(o);  // readers share
  CHECK(reader1.has_value());
  CHECK(reader2.has_value());
  o.readonly = false;
  CHECK(DiskImage::open(o).error() == in_use);
}

TEST_CASE("disk image: a read-only file needs ,readonly", "[blk]") {
  TempDir dir;
  const auto path = make_image(dir, "ro.img", 65536);
  // Root ignores mode bits, so make the file immutable (chattr +i) where the file system allows;
  // otherwise, as non-root, chmod 0444 is enough. Root on a file system without the flag: skip.
  const bool immutable = set_immutable(path, true);
  struct Restore {
    std::string path;
    bool on;
    ~Restore() { if (on) set_immutable(path, false); }  // or TempDir cannot delete it
  } restore{path, immutable};
  if (!immutable) {
    if (::geteuid() == 0) {
      WARN("root on a file system without chattr +i: cannot make a read-only file; sub-case skipped");
      return;
    }
    REQUIRE(::chmod(path.c_str(), 0444) == 0);
  }
  auto o = options_for(path);
  CHECK(DiskImage::open(o).error() == "disk " + path + " is read-only: add ,readonly");
  o.readonly = true;
  CHECK(DiskImage::open(o).has_value());
}

TEST_CASE("disk image: cache=none opens with O_DIRECT or says why not", "[blk]") {
  TempDir dir;
  auto o = options_for(make_image(dir, "direct.img", 65536));
  o.cache = DiskOptions::Cache::none;
  const auto image = DiskImage::open(o);
  if (image) {
    CHECK((::fcntl(image->fd(), F_GETFL) & O_DIRECT) != 0);
    CHECK(power_of_two(image->logical_sector_size()));
    CHECK(image->logical_sector_size() <= 4096);
  } else {
    CHECK(image.error().find("O_DIRECT") != std::string::npos);
  }
}

TEST_CASE("disk image: refresh_size sees a host-side grow and shrink; moves keep the fd", "[blk]") {
  TempDir dir;
  const auto path = make_image(dir, "grow.img", 65536);
  auto image = DiskImage::open(options_for(path));
  REQUIRE(image.has_value());
  CHECK(image->refresh_size() == false);
  std::filesystem::resize_file(path, 131072);
  CHECK(image->refresh_size() == true);
  CHECK(image->sectors() == 256);
  CHECK(image->refresh_size() == false);
  std::filesystem::resize_file(path, 1024);
  CHECK(image->refresh_size() == true);
  CHECK(image->sectors() == 2);

  const int fd = image->fd();
  DiskImage moved = std::move(*image);
  CHECK(moved.fd() == fd);
  CHECK(image->fd() == -1);  // NOLINT(bugprone-use-after-move): moved-from state is defined
  CHECK(moved.path() == path);
  CHECK(moved.sectors() == 2);
}
