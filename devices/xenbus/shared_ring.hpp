// The backend's side of a Xen shared request/response ring (xen/io/ring.h), over granted pages.
//
// Layout (DEFINE_RING_TYPES): a 64-byte header {req_prod, req_event, rsp_prod, rsp_event, pad}
// then entries of sizeof(union {Request; Response}); the entry count is the largest power of two
// that fits (__RING_SIZE). The pages are separate guest frames, so an entry may straddle two.
//
// Hostile frontend: req_prod is read once per batch (acquire) and validated against the private
// indexes; each request is copied out once; the frontend-writable header words are never trusted
// for our own state (the last published rsp_prod is kept privately).
#pragma once

// Xen's public headers expect the C fixed-width types to be declared already.
#include <stdint.h>

#include <xen/xen.h>
#include <xen/io/blkif.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace kxen::xenbus {

// Ring index as the ABI has it: free-running 32-bit, masked with size-1 on use.
using RingIdx = RING_IDX;

// A frontend index that no well-behaved frontend could produce: the caller disconnects.
struct RingError {
  enum class Kind {
    kProducerOverflow,  // req_prod claims more requests than the ring can hold
    kProducerBehind,    // req_prod moved backwards past requests already taken
  };
  Kind kind;
  RingIdx req_prod;      // the value read
  RingIdx req_cons;      // our consumer index at that time
  RingIdx rsp_prod_pvt;  // our private response producer at that time
  std::string message() const;
};

// Byte-addressed view over the ring's granted pages (each exactly one 4 KiB page, in ring-page
// order, not contiguous). Owns no memory; the pages must outlive it.
class RingPages final {
 public:
  static constexpr std::size_t kPageSize = 4096;
  static constexpr std::size_t kMaxPages = 16;  // ring-page-order <= 4
  static constexpr std::size_t kHeaderSize = 64;
  // Header word offsets, checked against blkif_sring in shared_ring.cpp.
  static constexpr std::size_t kReqProd = 0;
  static constexpr std::size_t kReqEvent = 4;
  static constexpr std::size_t kRspProd = 8;
  static constexpr std::size_t kRspEvent = 12;

  // Rejects a count that is not a power of two in [1, 16], a page that is not exactly 4096
  // bytes, and a first page whose header words cannot be accessed atomically.
  static std::expected<RingPages, std::string> create(std::vector<std::span<std::byte>> pages);

  std::size_t bytes() const { return pages_.size() * kPageSize; }
  std::size_t page_count() const { return pages_.size(); }

  // Copies across page boundaries; [offset, offset + out.size()) must lie within bytes().
  void read(std::size_t offset, std::span<std::byte> out) const;
  void write(std::size_t offset, std::span<const std::byte> in) const;

  // A header word on page 0, shared with the frontend.
  std::atomic_ref<std::uint32_t> word(std::size_t offset) const;

 private:
  explicit RingPages(std::vector<std::span<std::byte>> pages) : pages_(std::move(pages)) {}
  std::vector<std::span<std::byte>> pages_;
};

// Entries that fit after the header in `bytes`, rounded down to a power of two (__RING_SIZE).
constexpr unsigned ring_entries(std::size_t bytes, std::size_t entry_size) {
  if (bytes <= RingPages::kHeaderSize || entry_size == 0) return 0;
  return static_cast<unsigned>(std::bit_floor((bytes - RingPages::kHeaderSize) / entry_size));
}

// Not thread-safe: one backend thread owns a SharedRing. Create a new one on every (re)connect.
template <typename Request, typename Response>
class SharedRing final {
  static_assert(std::is_trivially_copyable_v<Request> && std::is_trivially_copyable_v<Response>);
  // The same union DEFINE_RING_TYPES declares, so padding and alignment match the C ABI.
  union Entry {
    Request req;
    Response rsp;
  };

 public:
  static constexpr std::size_t kEntrySize = sizeof(Entry);

  // Attaches at the frontend's current rsp_prod (as BACK_RING_ATTACH does on reconnect), so a
  // ring whose indexes did not restart at 0 still works; req_prod must be within one ring.
  static std::expected<SharedRing, std::string> create(std::vector<std::span<std::byte>> pages) {
    auto view = RingPages::create(std::move(pages));
    if (!view) return std::unexpected(view.error());
    const unsigned n = ring_entries(view->bytes(), kEntrySize);
    if (n == 0) return std::unexpected(std::string("ring: entry larger than the ring pages"));
    const RingIdx rsp = view->word(RingPages::kRspProd).load(std::memory_order_acquire);
    const RingIdx req = view->word(RingPages::kReqProd).load(std::memory_order_acquire);
    if (req - rsp > n) {
      return std::unexpected("ring: req_prod " + std::to_string(req) + " is more than " +
                             std::to_string(n) + " ahead of rsp_prod " + std::to_string(rsp));
    }
    return SharedRing(std::move(*view), n, rsp);
  }

  unsigned size() const { return size_; }
  RingIdx req_cons() const { return req_cons_; }
  RingIdx rsp_prod_pvt() const { return rsp_prod_pvt_; }

  // Reads req_prod once (acquire) and returns how many requests take() may now return.
  std::expected<unsigned, RingError> pending() {
    const RingIdx prod = shared(RingPages::kReqProd).load(std::memory_order_acquire);
    if (prod - rsp_prod_pvt_ > size_) return std::unexpected(error(RingError::Kind::kProducerOverflow, prod));
    if (prod - req_cons_ > size_) return std::unexpected(error(RingError::Kind::kProducerBehind, prod));
    batch_prod_ = prod;
    return prod - req_cons_;
  }

  // Copies out the next request of the batch pending() validated; nullopt when it is used up.
  std::optional<Request> take() {
    if (batch_prod_ == req_cons_) return std::nullopt;
    Request req{};
    pages_.read(slot_offset(req_cons_), std::as_writable_bytes(std::span(&req, 1)));
    ++req_cons_;
    return req;
  }

  // RING_FINAL_CHECK_FOR_REQUESTS: before sleeping, ask for an event at the next request and
  // re-check, so a request pushed meanwhile is never missed. True: call pending() again (a bad
  // req_prod also answers true, so that pending() reports it).
  bool final_check() {
    if (has_unconsumed()) return true;
    // seq_cst store then seq_cst load: a full barrier between them, like the macro's xen_mb()
    // (a full fence on x86), so the event store is visible before req_prod is re-read.
    shared(RingPages::kReqEvent).store(req_cons_ + 1, std::memory_order_seq_cst);
    return has_unconsumed();
  }

  // Requests taken and not yet answered: push() succeeds this many more times.
  unsigned free_response_slots() const { return req_cons_ - rsp_prod_pvt_; }

  // Writes a response at the private producer; false (nothing written) if no taken request is
  // waiting for one, since the slot could still hold an unread request.
  [[nodiscard]] bool push(const Response& rsp) {
    if (free_response_slots() == 0) return false;
    pages_.write(slot_offset(rsp_prod_pvt_), std::as_bytes(std::span(&rsp, 1)));
    ++rsp_prod_pvt_;
    return true;
  }

  // RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publishes the pushed responses (release) and says
  // whether the frontend asked to be notified (rsp_event within the newly published range).
  bool publish() {
    const RingIdx old_prod = published_;
    const RingIdx new_prod = rsp_prod_pvt_;
    if (old_prod == new_prod) return false;
    // seq_cst (a release, and a full barrier before the rsp_event read, as xen_mb()).
    shared(RingPages::kRspProd).store(new_prod, std::memory_order_seq_cst);
    published_ = new_prod;
    const RingIdx event = shared(RingPages::kRspEvent).load(std::memory_order_seq_cst);
    return static_cast<RingIdx>(new_prod - event) < static_cast<RingIdx>(new_prod - old_prod);
  }

 private:
  SharedRing(RingPages pages, unsigned size, RingIdx start)
      : pages_(std::move(pages)), size_(size), req_cons_(start), rsp_prod_pvt_(start),
        batch_prod_(start), published_(start) {}

  std::atomic_ref<std::uint32_t> shared(std::size_t offset) const { return pages_.word(offset); }

  std::size_t slot_offset(RingIdx idx) const {
    return RingPages::kHeaderSize + static_cast<std::size_t>(idx & (size_ - 1)) * kEntrySize;
  }

  // XEN_RING_NR_UNCONSUMED_REQUESTS != 0. Within bounds, prod - req_cons never exceeds the
  // slots left before rsp_prod_pvt, so the macro's min() is implied; a bad req_prod is "work".
  bool has_unconsumed() const {
    const RingIdx prod = shared(RingPages::kReqProd).load(std::memory_order_seq_cst);
    return prod != req_cons_;
  }

  RingError error(RingError::Kind kind, RingIdx prod) const {
    return RingError{kind, prod, req_cons_, rsp_prod_pvt_};
  }

  RingPages pages_;
  unsigned size_;
  RingIdx req_cons_;      // next request to copy out
  RingIdx rsp_prod_pvt_;  // next response slot to write
  RingIdx batch_prod_;    // req_prod as last validated by pending(); take() stops here
  RingIdx published_;     // rsp_prod as we last stored it (the shared copy is guest-writable)
};

// The ABI this template relies on, checked against libxen-dev's own blkif ring.
using BlkifRing = SharedRing<blkif_request_t, blkif_response_t>;
static_assert(offsetof(blkif_sring, req_prod) == RingPages::kReqProd);
static_assert(offsetof(blkif_sring, req_event) == RingPages::kReqEvent);
static_assert(offsetof(blkif_sring, rsp_prod) == RingPages::kRspProd);
static_assert(offsetof(blkif_sring, rsp_event) == RingPages::kRspEvent);
static_assert(offsetof(blkif_sring, ring) == RingPages::kHeaderSize);
static_assert(sizeof(blkif_sring_entry) == BlkifRing::kEntrySize);
static_assert(sizeof(RingIdx) == sizeof(std::uint32_t));
static_assert(__CONST_RING_SIZE(blkif, 4096) == ring_entries(4096, BlkifRing::kEntrySize));

}  // namespace kxen::xenbus
