// One I/O queue per backend queue: reads, writes, flushes and discards on a DiskImage, tagged by
// the caller, done through an io_uring (or, with aio=sync, at once on the calling thread) and
// completed through an eventfd that the queue's I/O thread polls with its other fds.
#pragma once

#include "blk/disk_image.hpp"

#include <sys/uio.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace kxen::blk {

// Thread model: one IoQueue belongs to exactly one I/O thread, which queues, submits and reaps;
// nothing is shared, so there are no locks. The DiskImage must outlive its IoQueues.
//
// Memory: the iovecs passed to queue_read/queue_write point straight into guest memory (no
// bounce buffer). The iovec array is copied, but the memory it points to must stay mapped and
// untouched by the backend until that tag has been reaped; with cache=none it must also be
// aligned to the disk's logical_sector_size(). Offsets and lengths are in bytes and the caller
// has already checked them against DiskImage::sectors().
//
// Bounded: at most depth() requests are in flight; each holds one slot of a pool allocated at
// create(). queue_* return false when every slot is busy: reap, then retry. Nothing is
// allocated per request.
//
// Results: reap() reports each tag once with 0 when the whole request succeeded, or a negative
// errno. A write is reported only after the kernel completed all of it; short transfers are
// resubmitted for the remainder (a transfer that stops making progress is -EIO).
class IoQueue final {
 public:
  using Tag = std::uint64_t;
  static constexpr unsigned kMaxDepth = 1024;
  static constexpr std::size_t kMaxIovecs = 256;  // Linux blkback's max indirect segments
  static constexpr std::uint64_t kDiscardChunkBytes = std::uint64_t{64} << 20;

  static std::expected<IoQueue, std::string> create(const DiskImage& disk, unsigned depth);

  IoQueue(IoQueue&&) noexcept;
  IoQueue& operator=(IoQueue&&) noexcept;
  IoQueue(const IoQueue&) = delete;
  IoQueue& operator=(const IoQueue&) = delete;
  // Waits for the requests the kernel still owns: it may be writing into guest memory.
  ~IoQueue();

  // Readable (EPOLLIN) when completions are ready; reap() clears it. Owned by the queue.
  int completion_fd() const;
  unsigned depth() const;
  unsigned in_flight() const;  // slots in use: queued, in the kernel or awaiting reap
  // Completions made without the kernel (aio=sync, refusals) wait to be reaped: reap now
  // rather than after a poll of completion_fd().
  bool has_ready() const;

  bool queue_read(std::uint64_t offset, std::span<const iovec> iov, Tag tag);
  // fua: report completion only once the data is durable (an fdatasync follows the write).
  bool queue_write(std::uint64_t offset, std::span<const iovec> iov, Tag tag, bool fua = false);
  // Makes every write reaped before this call durable (fdatasync). Writes still in flight are
  // not covered: like blkif, the caller waits for the writes it cares about first.
  // With cache=unsafe it completes at once without syncing.
  bool queue_flush(Tag tag);
  // Files: punch a hole (reads return zeros, blocks are freed); block devices: BLKDISCARD.
  // -EOPNOTSUPP when the disk does not support discard. Those done on the calling thread (block
  // devices, aio=sync) go kDiscardChunkBytes per submit(), the completion eventfd kept readable
  // until the last chunk.
  bool queue_discard(std::uint64_t offset, std::uint64_t length, Tag tag);
  // Ends the discards still waiting for their chunks with -ECANCELED (the queue is stopping).
  void cancel_discards();

  // Hands everything queued to the kernel in one io_uring_submit, after the next chunk of a
  // discard done on this thread; returns the number submitted or a negative errno (the requests stay
  // queued; call again later).
  int submit();

  // Reports every ready completion as done(tag, result) and returns how many. `done` may queue
  // new requests (a freed slot is reusable inside it); call submit() afterwards.
  template <typename F>
  std::size_t reap(F&& done) {
    std::size_t count = 0;
    begin_reap();
    for (Completion c; next_completion(c); ++count) done(c.tag, c.result);
    finish_reap();
    return count;
  }

 private:
  struct State;
  struct Completion {
    Tag tag = 0;
    int result = 0;
  };
  explicit IoQueue(std::unique_ptr<State> state);
  void begin_reap();
  bool next_completion(Completion& out);
  void finish_reap();

  std::unique_ptr<State> state_;
};

// Appends [base, base + length) to iov, extending the last iovec when the span continues it:
// segments on adjacent guest pages become one iovec, and the kernel walks fewer of them.
void append_iovec(std::vector<iovec>& iov, void* base, std::size_t length);

}  // namespace kxen::blk
