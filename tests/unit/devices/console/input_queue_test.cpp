// InputQueue: bounded FIFO that drops the oldest bytes. Tag [console].
#include "console/input_queue.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <string_view>

using kxen::console::InputQueue;

namespace {

std::string take(InputQueue& queue, std::size_t max = 64) {
  std::string out(max, '\0');
  const std::size_t n = queue.peek(std::span<char>(out.data(), out.size()));
  queue.pop(n);
  out.resize(n);
  return out;
}

}  // namespace

TEST_CASE("input queue: FIFO order across the wrap point", "[console]") {
  InputQueue queue(8);
  CHECK(queue.push(std::string_view("abcdef")) == 0);
  CHECK(take(queue, 4) == "abcd");
  CHECK(queue.push(std::string_view("ghijk")) == 0);  // wraps inside the buffer
  CHECK(queue.size() == 7);
  CHECK(take(queue) == "efghijk");
  CHECK(queue.empty());
}

TEST_CASE("input queue: the oldest bytes are dropped when full", "[console]") {
  InputQueue queue(8);
  CHECK(queue.push(std::string_view("12345678")) == 0);
  CHECK(queue.push(std::string_view("ab")) == 2);
  CHECK(take(queue) == "345678ab");
  CHECK(queue.push(std::string_view("0123456789XY")) == 4);  // larger than the queue itself
  CHECK(take(queue) == "456789XY");
}

TEST_CASE("input queue: peek does not consume and pop is bounded", "[console]") {
  InputQueue queue(4);
  queue.push(std::string_view("xyz"));
  std::array<char, 2> buf{};
  CHECK(queue.peek(buf) == 2);
  CHECK(queue.size() == 3);
  queue.pop(100);
  CHECK(queue.empty());
  CHECK(queue.peek(buf) == 0);
}
