#include "xenbus/shared_ring.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>

#include <fmt/format.h>

namespace kxen::xenbus {

std::string RingError::message() const {
  const char* what = kind == Kind::kProducerOverflow ? "more requests than the ring holds"
                                                     : "req_prod moved backwards";
  return fmt::format("ring: bad req_prod {} ({}; req_cons {}, rsp_prod {})", req_prod, what,
                     req_cons, rsp_prod_pvt);
}

std::expected<RingPages, std::string> RingPages::create(std::vector<std::span<std::byte>> pages) {
  // ring-page-order gives 2^order pages; anything else is a frontend (or caller) bug.
  if (pages.empty() || pages.size() > kMaxPages || !std::has_single_bit(pages.size())) {
    return std::unexpected(fmt::format("ring: {} pages, need a power of two in [1, {}]",
                                       pages.size(), kMaxPages));
  }
  for (std::size_t i = 0; i < pages.size(); ++i) {
    if (pages[i].size() != kPageSize || pages[i].data() == nullptr) {
      return std::unexpected(fmt::format("ring: page {} is {} bytes, need {}", i, pages[i].size(),
                                         kPageSize));
    }
  }
  const auto addr = reinterpret_cast<std::uintptr_t>(pages[0].data());
  if (addr % std::atomic_ref<std::uint32_t>::required_alignment != 0) {
    return std::unexpected(std::string("ring: first page is not 4-byte aligned"));
  }
  return RingPages(std::move(pages));
}

void RingPages::read(std::size_t offset, std::span<std::byte> out) const {
  assert(offset <= bytes() && out.size() <= bytes() - offset);
  std::size_t done = 0;
  while (done < out.size()) {  // at most two pages per ring entry
    const std::size_t page = (offset + done) / kPageSize;
    const std::size_t in_page = (offset + done) % kPageSize;
    const std::size_t n = std::min(out.size() - done, kPageSize - in_page);
    std::memcpy(out.data() + done, pages_[page].data() + in_page, n);
    done += n;
  }
}

void RingPages::write(std::size_t offset, std::span<const std::byte> in) const {
  assert(offset <= bytes() && in.size() <= bytes() - offset);
  std::size_t done = 0;
  while (done < in.size()) {
    const std::size_t page = (offset + done) / kPageSize;
    const std::size_t in_page = (offset + done) % kPageSize;
    const std::size_t n = std::min(in.size() - done, kPageSize - in_page);
    std::memcpy(pages_[page].data() + in_page, in.data() + done, n);
    done += n;
  }
}

std::atomic_ref<std::uint32_t> RingPages::word(std::size_t offset) const {
  assert(offset % sizeof(std::uint32_t) == 0 && offset < kHeaderSize);
  return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(pages_[0].data() + offset));
}

}  // namespace kxen::xenbus
