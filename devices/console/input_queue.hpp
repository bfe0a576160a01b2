// Bounded FIFO of host input bytes waiting for the guest; the oldest bytes go first when full.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace kxen::console {

// Not thread-safe: the owner (ConsoleBackend) serialises access with its own mutex.
class InputQueue final {
 public:
  static constexpr std::size_t kDefaultCapacity = 64 * 1024;

  explicit InputQueue(std::size_t capacity = kDefaultCapacity);

  // Appends `bytes`; returns how many older bytes were dropped to make room.
  std::size_t push(std::span<const char> bytes);
  // Copies up to out.size() bytes from the front without removing them.
  std::size_t peek(std::span<char> out) const;
  // Removes n bytes (at most size()) from the front.
  void pop(std::size_t n);

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return buffer_.size(); }
  bool empty() const { return size_ == 0; }

 private:
  std::vector<char> buffer_;
  std::size_t head_ = 0;  // index of the oldest byte
  std::size_t size_ = 0;
};

}  // namespace kxen::console
