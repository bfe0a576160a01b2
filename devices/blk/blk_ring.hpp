// The blkif ring in either ABI a frontend may speak: x86_64 (Linux) or x86_32 (32-bit guests such
// as GRUB's i386-xen_pvh), chosen by the frontend's `protocol` node. Requests come out, and
// responses go in, in the native (x86_64) layout the decoder and the queue use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "blk/blkif_request.hpp"
#include "xenbus/shared_ring.hpp"

namespace kxen::blk {

// libxen-dev's blkif.h laid out as an i386 compiler does (64-bit fields 4-byte aligned), the
// same header blkfront is built from, so no struct is written out again here.
namespace x86_32 {
#undef __XEN_PUBLIC_IO_BLKIF_H__
#pragma pack(push, 4)
#include <xen/io/blkif.h>
#pragma pack(pop)
}  // namespace x86_32

enum class BlkifAbi { x86_64, x86_32 };

// The ABI a `protocol` node names; absent means the native x86_64 one. nullopt: not served.
std::optional<BlkifAbi> blkif_abi_of(const std::optional<std::string>& protocol);

// An x86_32 request in the native layout (blkback's blkif_get_x86_32_req): fields moved by the
// operation's own layout; at most the ABI's segment count is copied.
blkif_request_t to_native(const x86_32::blkif_request_t& req);

class BlkRing final {
 public:
  static std::expected<BlkRing, std::string> create(BlkifAbi abi, std::vector<std::span<std::byte>> pages);

  unsigned size() const;
  std::expected<unsigned, xenbus::RingError> pending();
  std::optional<blkif_request_t> take();
  bool final_check();
  bool push(const blkif_response_t& rsp);
  bool publish();

 private:
  using Ring64 = xenbus::SharedRing<blkif_request_t, blkif_response_t>;
  using Ring32 = xenbus::SharedRing<x86_32::blkif_request_t, x86_32::blkif_response_t>;
  explicit BlkRing(std::variant<Ring64, Ring32> ring) : ring_(std::move(ring)) {}
  std::variant<Ring64, Ring32> ring_;
};

}  // namespace kxen::blk
