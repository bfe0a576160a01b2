#include "console/console_ring.hpp"

#include "kxen/log.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

namespace kxen::console {
namespace {

// The ABI layout this file relies on (xen/io/console.h).
static_assert(sizeof(XENCONS_RING_IDX) == 4);
static_assert(sizeof(xencons_interface) == 3088);
static_assert(offsetof(xencons_interface, in) == 0);
static_assert(offsetof(xencons_interface, out) == 1024);
static_assert(offsetof(xencons_interface, in_cons) == 3072);
static_assert(offsetof(xencons_interface, in_prod) == 3076);
static_assert(offsetof(xencons_interface, out_cons) == 3080);
static_assert(offsetof(xencons_interface, out_prod) == 3084);
// Masking with size-1 (MASK_XENCONS_IDX) is only correct for power-of-two rings.
static_assert((ConsoleRing::kOutSize & (ConsoleRing::kOutSize - 1)) == 0);
static_assert((ConsoleRing::kInSize & (ConsoleRing::kInSize - 1)) == 0);

constexpr std::size_t kIn = offsetof(xencons_interface, in);
constexpr std::size_t kOut = offsetof(xencons_interface, out);
constexpr std::size_t kInCons = offsetof(xencons_interface, in_cons);
constexpr std::size_t kInProd = offsetof(xencons_interface, in_prod);
constexpr std::size_t kOutCons = offsetof(xencons_interface, out_cons);
constexpr std::size_t kOutProd = offsetof(xencons_interface, out_prod);

// Copies n bytes out of a ring of `size` bytes starting at free-running index `idx`.
void copy_from_ring(const std::byte* ring, std::size_t size, std::uint32_t idx, char* dst, std::size_t n) {
  if (n == 0) return;  // dst may be an empty span's null pointer, which memcpy must not get
  const std::size_t first = idx & (size - 1);
  const std::size_t head = std::min(n, size - first);
  std::memcpy(dst, ring + first, head);
  std::memcpy(dst + head, ring, n - head);
}

void copy_to_ring(std::byte* ring, std::size_t size, std::uint32_t idx, const char* src, std::size_t n) {
  if (n == 0) return;  // src may be an empty view's null pointer, which memcpy must not get
  const std::size_t first = idx & (size - 1);
  const std::size_t head = std::min(n, size - first);
  std::memcpy(ring + first, src, head);
  std::memcpy(ring, src + head, n - head);
}

}  // namespace

std::expected<ConsoleRing, std::string> ConsoleRing::attach(std::span<std::byte> page) {
  if (page.size() < sizeof(xencons_interface)) {
    return std::unexpected(fmt::format("console: ring page is {} bytes, needs {}", page.size(),
                                       sizeof(xencons_interface)));
  }
  const auto addr = reinterpret_cast<std::uintptr_t>(page.data());
  if (addr % std::atomic_ref<std::uint32_t>::required_alignment != 0) {
    return std::unexpected(std::string("console: ring page is not 4-byte aligned"));
  }
  return ConsoleRing(page.data());
}

std::uint32_t ConsoleRing::load_acquire(std::size_t offset) const {
  auto* word = reinterpret_cast<std::uint32_t*>(base_ + offset);
  return std::atomic_ref<std::uint32_t>(*word).load(std::memory_order_acquire);
}

void ConsoleRing::store_release(std::size_t offset, std::uint32_t value) {
  auto* word = reinterpret_cast<std::uint32_t*>(base_ + offset);
  std::atomic_ref<std::uint32_t>(*word).store(value, std::memory_order_release);
}

OutputResult ConsoleRing::read_output(std::span<char> out) {
  const std::uint32_t prod = load_acquire(kOutProd);  // read once; the guest may move it anytime
  const std::uint32_t cons = load_acquire(kOutCons);
  const std::uint32_t pending = prod - cons;  // free-running indexes: unsigned wrap is intended
  if (pending > kOutSize) {
    KXEN_GUEST_WARN("console: guest out ring indexes are corrupt (prod {:#x} cons {:#x}); resyncing",
                    prod, cons);
    store_release(kOutCons, prod);
    return {.bytes = 0, .notify = true, .corrupt = true};
  }
  const std::size_t n = std::min<std::size_t>(pending, out.size());
  copy_from_ring(base_ + kOut, kOutSize, cons, out.data(), n);
  if (n > 0) store_release(kOutCons, cons + static_cast<std::uint32_t>(n));
  return {.bytes = n, .notify = n > 0, .corrupt = false};
}

InputResult ConsoleRing::write_input(std::span<const char> in) {
  const std::uint32_t cons = load_acquire(kInCons);  // acquire: the guest is done with those bytes
  std::uint32_t prod = load_acquire(kInProd);
  InputResult result;
  if (prod - cons > kInSize) {
    KXEN_GUEST_WARN("console: guest in ring indexes are corrupt (prod {:#x} cons {:#x}); resyncing",
                    prod, cons);
    prod = cons;
    store_release(kInProd, prod);
    result.corrupt = true;
    result.notify = true;
  }
  const std::size_t space = kInSize - (prod - cons);
  const std::size_t n = std::min(space, in.size());
  copy_to_ring(base_ + kIn, kInSize, prod, in.data(), n);
  if (n > 0) {
    store_release(kInProd, prod + static_cast<std::uint32_t>(n));
    result.notify = true;
  }
  result.bytes = n;
  return result;
}

}  // namespace kxen::console
