// Atomic bit operations on words the guest modifies concurrently (shared_info, vcpu_info,
// FIFO event words). Callers pass host pointers obtained from GuestMemory::span and check
// alignment first; word width is chosen at run time for the 32-bit shared_info layout.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace kxen::guest_bits {

template <class W>
std::atomic_ref<W> word_at(std::byte* p) {
  return std::atomic_ref<W>(*reinterpret_cast<W*>(p));
}

// Sets bit `bit` of the word at p (width 4 or 8 bytes); returns its previous value.
inline bool test_and_set(std::byte* p, unsigned width, unsigned bit) {
  if (width == 8) {
    const std::uint64_t m = std::uint64_t{1} << bit;
    return (word_at<std::uint64_t>(p).fetch_or(m) & m) != 0;
  }
  const std::uint32_t m = std::uint32_t{1} << bit;
  return (word_at<std::uint32_t>(p).fetch_or(m) & m) != 0;
}

inline bool test_and_clear(std::byte* p, unsigned width, unsigned bit) {
  if (width == 8) {
    const std::uint64_t m = std::uint64_t{1} << bit;
    return (word_at<std::uint64_t>(p).fetch_and(~m) & m) != 0;
  }
  const std::uint32_t m = std::uint32_t{1} << bit;
  return (word_at<std::uint32_t>(p).fetch_and(~m) & m) != 0;
}

inline bool test(std::byte* p, unsigned width, unsigned bit) {
  if (width == 8) return ((word_at<std::uint64_t>(p).load() >> bit) & 1) != 0;
  return ((word_at<std::uint32_t>(p).load() >> bit) & 1) != 0;
}

inline bool aligned(const std::byte* p, std::size_t align) {
  return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
}

}  // namespace kxen::guest_bits
