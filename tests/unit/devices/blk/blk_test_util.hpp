// Test helpers for the block backend's host side: sized temp images and reaping with a timeout.
#pragma once

#include "../../boot/temp_dir.hpp"
#include "blk/io_queue.hpp"

#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <map>
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
