// Reads a libFuzzer input as a stream of little-endian fields; past the end every read gives 0s,
// so any byte string is a valid input and the harness never reads outside it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include <spdlog/spdlog.h>

namespace kxen::fuzz {

class FuzzInput final {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  std::size_t remaining() const { return size_ - pos_; }

  template <class T>
  T take() {
    T value{};
    const std::size_t n = std::min(sizeof(T), remaining());
    std::memcpy(&value, data_ + pos_, n);
    pos_ += n;
    return value;
  }
  std::uint8_t u8() { return take<std::uint8_t>(); }
  std::uint16_t u16() { return take<std::uint16_t>(); }
  std::uint32_t u32() { return take<std::uint32_t>(); }
  std::uint64_t u64() { return take<std::uint64_t>(); }

  // Up to n bytes (fewer at the end of the input).
  std::span<const std::byte> bytes(std::size_t n) {
    n = std::min(n, remaining());
    auto out = std::as_bytes(std::span(data_ + pos_, n));
    pos_ += n;
    return out;
  }
  std::string string(std::size_t n) {
    auto b = bytes(n);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  std::span<const std::byte> rest() { return bytes(remaining()); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// A broken invariant of the code under test: libFuzzer saves the input as a crash.
[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}

// Guest-caused errors are logged (rate-limited); under a fuzzer that is only noise and time.
inline void quiet_logs() { spdlog::set_level(spdlog::level::off); }

}  // namespace kxen::fuzz
