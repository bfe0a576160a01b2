// Test helpers for the block backend's host side: sized temp images and reaping with a timeout.
#pragma once

#include "../../boot/temp_dir.hpp"
#include "blk/io_queue.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>
#include <string>

namespace kxen::blk::test {

using kxen::boot::test::TempDir;

// Creates `name` in `dir` holding `bytes` bytes of `fill`.
inline std::string make_image(const TempDir& dir, const std::string& name, std::size_t bytes,
                              std::byte fill = std::byte{0}) {
  std::vector<std::byte> data(bytes, fill);
  return dir.write(name, data);
}

inline DiskOptions options_for(const std::string& path) {
  DiskOptions o;
  o.path = path;
  return o;
}

// A loop block device over `backing`, detached on destruction. Needs /dev/loop-control and
// CAP_SYS_ADMIN (root, as tests/run-all runs).
class LoopDevice {
 public:
  explicit LoopDevice(const std::string& backing) {
    const Fd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    const Fd file(::open(backing.c_str(), O_RDWR | O_CLOEXEC));
    // Another process may take the free device between the two calls (EBUSY): ask again.
    for (int attempt = 0; attempt < 5; ++attempt) {
      const int n = control.valid() ? ::ioctl(control.get(), LOOP_CTL_GET_FREE) : -1;
      if (!file.valid() || n < 0)
        throw std::runtime_error("cannot get a loop device: this test needs /dev/loop-control as root");
      path_ = "/dev/loop" + std::to_string(n);
      device_ = Fd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
      if (device_.valid() && ::ioctl(device_.get(), LOOP_SET_FD, file.get()) == 0) return;
    }
    throw std::runtime_error("cannot attach " + backing + " to a loop device");
  }
  ~LoopDevice() { ::ioctl(device_.get(), LOOP_CLR_FD, 0); }
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Fd device_;
};

// Polls the completion eventfd and reaps until `count` tags completed; fails after 5 s.
inline std::map<IoQueue::Tag, int> wait_for(IoQueue& queue, std::size_t count) {
  std::map<IoQueue::Tag, int> results;
  for (int round = 0; results.size() < count && round < 500; ++round) {
    pollfd p{queue.completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    queue.reap([&](IoQueue::Tag tag, int result) {
      CHECK(results.count(tag) == 0);  // each tag is reported exactly once
      results[tag] = result;
    });
  }
  REQUIRE(results.size() == count);
  return results;
}

}  // namespace kxen::blk::test
