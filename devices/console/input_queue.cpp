#include "console/input_queue.hpp"

#include <algorithm>
#include <cstring>

namespace kxen::console {

InputQueue::InputQueue(std::size_t capacity) : buffer_(std::max<std::size_t>(capacity, 1)) {}

std::size_t InputQueue::push(std::span<const char> bytes) {
  const std::size_t cap = buffer_.size();
  std::size_t dropped = 0;
  if (bytes.size() >= cap) {  // only the newest `cap` bytes can survive
    dropped = size_ + (bytes.size() - cap);
    bytes = bytes.last(cap);
    head_ = 0;
    size_ = 0;
  } else if (size_ + bytes.size() > cap) {
    const std::size_t excess = size_ + bytes.size() - cap;
    pop(excess);
    dropped = excess;
  }
  const std::size_t tail = (head_ + size_) % cap;
  const std::size_t first = std::min(bytes.size(), cap - tail);
  std::memcpy(buffer_.data() + tail, bytes.data(), first);
  std::memcpy(buffer_.data(), bytes.data() + first, bytes.size() - first);
  size_ += bytes.size();
  return dropped;
}

std::size_t InputQueue::peek(std::span<char> out) const {
  const std::size_t cap = buffer_.size();
  const std::size_t n = std::min(out.size(), size_);
  const std::size_t first = std::min(n, cap - head_);
  std::memcpy(out.data(), buffer_.data() + head_, first);
  std::memcpy(out.data() + first, buffer_.data(), n - first);
  return n;
}

void InputQueue::pop(std::size_t n) {
  n = std::min(n, size_);
  head_ = (head_ + n) % buffer_.size();
  size_ -= n;
  if (size_ == 0) head_ = 0;
}

}  // namespace kxen::console
