#include "blk/io_queue.hpp"

#include "kxen/log.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kxen::blk {
namespace {

enum class Op : std::uint8_t { read, write, flush, discard };

constexpr unsigned kMaxRetries = 8;  // for -EAGAIN/-EINTR, which make no progress

const char* op_name(Op op) {
  switch (op) {
    case Op::read: return "read";
    case Op::write: return "write";
    case Op::flush: return "flush";
    case Op::discard: return "discard";
  }
  return "?";
}

// One request in flight. Reads and writes keep a private copy of the caller's iovecs so a short
// transfer can be resubmitted for the rest: [iov_first, iov_first + iov_count) is what remains.
struct Slot {
  IoQueue::Tag tag = 0;
  Op op = Op::read;
  bool fua = false;
  int result = 0;
  unsigned retries = 0;
  std::uint64_t offset = 0;
  std::uint64_t remaining = 0;
  std::uint32_t iov_first = 0;
  std::uint32_t iov_count = 0;
};

// Consumes `done` bytes from the front of the slot's iovecs.
void advance(Slot& s, iovec* iov, std::uint64_t done) {
  s.offset += done;
  s.remaining -= done;
  while (done > 0) {
    iovec& v = iov[s.iov_first];
    const std::uint64_t step = std::min<std::uint64_t>(done, v.iov_len);
    v.iov_base = static_cast<char*>(v.iov_base) + step;
    v.iov_len -= step;
    done -= step;
    if (v.iov_len == 0) ++s.iov_first, --s.iov_count;
  }
}

}  // namespace

struct IoQueue::State {
  io_uring ring{};
  bool ring_ready = false;
  Fd eventfd;
  int fd = -1;
  std::string path;
  bool readonly = false;
  bool block_device = false;
  bool discard = false;
  DiskOptions::Cache cache = DiskOptions::Cache::writeback;
  bool sync = false;  // aio=sync: each request runs to its end inside queue_*, no SQE
  std::vector<SectorRange> fail_sectors;
  unsigned depth = 0;
  unsigned kernel_owned = 0;  // SQEs prepared whose CQE has not been seen
  std::vector<Slot> slots;
  std::vector<iovec> iovecs;  // kMaxIovecs per slot
  std::vector<std::uint32_t> free_slots;
  std::vector<std::uint32_t> ready;    // completed without the kernel, not yet reaped
  std::vector<std::uint32_t> reaping;  // the `ready` batch being reported by reap()
  std::deque<std::uint32_t> discards;  // discards done on this thread: chunks still to do, oldest first
  std::size_t reaping_pos = 0;
  unsigned cqe_budget = 0;  // CQEs this reap() may harvest: a bound, as resubmits add more
  RateLimit error_log;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State();

  iovec* slot_iov(std::uint32_t i) { return &iovecs[std::size_t{i} * kMaxIovecs]; }
  std::optional<std::uint32_t> take(Tag tag, Op op, std::uint64_t offset = 0);
  bool complete_now(std::uint32_t i, int result);
  bool fails(std::uint64_t offset, std::uint64_t length) const;
  io_uring_sqe* next_sqe();
  void prep_rw(std::uint32_t i);
  void prep_flush(std::uint32_t i);
  bool queue_rw(Op op, std::uint64_t offset, std::span<const iovec> iov, Tag tag, bool fua);
  bool issue(std::uint32_t i);
  int transfer_now(std::uint32_t i);
  bool run_now(std::uint32_t i);
  void discard_chunk();
  std::optional<int> step(std::uint32_t i, int res);
  std::optional<int> on_cqe(std::uint32_t i, int res);
  Completion finish(std::uint32_t i, int result);
};

IoQueue::State::~State() {
  if (!ring_ready) return;
  // The kernel may still be writing into guest memory: wait for every request it owns.
  if (kernel_owned > 0) io_uring_submit(&ring);
  while (kernel_owned > 0) {
    io_uring_cqe* cqe = nullptr;
    const int err = io_uring_wait_cqe(&ring, &cqe);
    if (err == -EINTR) continue;
    if (err < 0) break;
    io_uring_cqe_seen(&ring, cqe);
    --kernel_owned;
  }
  io_uring_queue_exit(&ring);
}

std::optional<std::uint32_t> IoQueue::State::take(Tag tag, Op op, std::uint64_t offset) {
  if (free_slots.empty()) return std::nullopt;
  const std::uint32_t i = free_slots.back();
  free_slots.pop_back();
  slots[i] = Slot{.tag = tag, .op = op, .offset = offset};
  return i;
}

// Completes a request without the kernel; wakes the poller when the ready list fills up.
bool IoQueue::State::complete_now(std::uint32_t i, int result) {
  slots[i].result = result;
  ready.push_back(i);  // never reallocates: reserved for every slot
  if (ready.size() == 1) ::eventfd_write(eventfd.get(), 1);
  return true;
}

bool IoQueue::State::fails(std::uint64_t offset, std::uint64_t length) const {
  return std::any_of(fail_sectors.begin(), fail_sectors.end(),
                     [&](const SectorRange& r) { return r.overlaps(offset, length); });
}

// There is always an SQE: each slot has at most one, and the SQ holds depth of them.
io_uring_sqe* IoQueue::State::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) return nullptr;
  ++kernel_owned;
  return sqe;
}

void IoQueue::State::prep_rw(std::uint32_t i) {
  Slot& s = slots[i];
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) {
    complete_now(i, -EBUSY);
    return;
  }
  const iovec* iov = slot_iov(i) + s.iov_first;
  if (s.op == Op::read) io_uring_prep_readv(sqe, fd, iov, s.iov_count, s.offset);
  else io_uring_prep_writev(sqe, fd, iov, s.iov_count, s.offset);
  io_uring_sqe_set_data64(sqe, i);
}

void IoQueue::State::prep_flush(std::uint32_t i) {
  slots[i].op = Op::flush;
  if (sync) {
    run_now(i);
    return;
  }
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) {
    complete_now(i, -EBUSY);
    return;
  }
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data64(sqe, i);
}

bool IoQueue::State::queue_rw(Op op, std::uint64_t offset, std::span<const iovec> iov, Tag tag,
                              bool fua) {
  const auto i = take(tag, op, offset);
  if (!i) return false;
  if (iov.size() > kMaxIovecs) return complete_now(*i, -EINVAL);
  if (op == Op::write && readonly) return complete_now(*i, -EROFS);
  std::uint64_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  if (fails(offset, total)) return complete_now(*i, -EIO);
  Slot& s = slots[*i];
  s.fua = fua && cache != DiskOptions::Cache::unsafe;
  if (total == 0) {
    if (s.fua) prep_flush(*i);
    else complete_now(*i, 0);
    return true;
  }
  std::copy(iov.begin(), iov.end(), slot_iov(*i));
  s.remaining = total;
  s.iov_count = static_cast<std::uint32_t>(iov.size());
  return issue(*i);
}

// Hands the slot's next step (its transfer, or the flush after a FUA write) to the kernel, or
// with aio=sync does it, and every step after it, now.
bool IoQueue::State::issue(std::uint32_t i) {
  if (sync) return run_now(i);
  if (slots[i].op == Op::flush) prep_flush(i);
  else prep_rw(i);
  return true;
}

// One synchronous step; the result in io_uring's convention (bytes, or a negative errno).
int IoQueue::State::transfer_now(std::uint32_t i) {
  const Slot& s = slots[i];
  const auto offset = static_cast<off_t>(s.offset);
  const iovec* iov = slot_iov(i) + s.iov_first;
  const auto count = static_cast<int>(s.iov_count);
  ssize_t n = 0;
  switch (s.op) {
    case Op::read: n = ::preadv(fd, iov, count, offset); break;
    case Op::write: n = ::pwritev(fd, iov, count, offset); break;
    case Op::flush: n = ::fdatasync(fd); break;
    case Op::discard: return -EINVAL;  // queue_discard does its own
  }
  return n < 0 ? -errno : static_cast<int>(n);
}

// Ends: every short transfer moves at least one byte, and retries are counted.
bool IoQueue::State::run_now(std::uint32_t i) {
  for (;;) {
    if (const auto result = step(i, transfer_now(i))) return complete_now(i, *result);
  }
}

// A kernel completion: the request's final result, or nullopt when its next step went back to
// the kernel.
std::optional<int> IoQueue::State::on_cqe(std::uint32_t i, int res) {
  --kernel_owned;
  const auto result = step(i, res);
  if (!result) issue(i);
  return result;
}

// What one step's result means: the request's final result, or nullopt with the slot set up for
// its next step (the rest of a short transfer, a retry, or the fdatasync after a FUA write).
std::optional<int> IoQueue::State::step(std::uint32_t i, int res) {
  Slot& s = slots[i];
  if (s.op == Op::flush || s.op == Op::discard) return res;
  if ((res == -EAGAIN || res == -EINTR) && s.retries++ < kMaxRetries) return std::nullopt;
  if (res < 0) return res;
  const auto done = static_cast<std::uint64_t>(res);
  if (done == 0 || done > s.remaining) return -EIO;  // EOF inside the disk, or nonsense
  if (done < s.remaining) {
    advance(s, slot_iov(i), done);
    return std::nullopt;
  }
  if (s.op == Op::write && s.fua) {
    s.op = Op::flush;
    return std::nullopt;
  }
  return 0;
}

IoQueue::Completion IoQueue::State::finish(std::uint32_t i, int result) {
  const Slot& s = slots[i];
  if (result < 0 && result != -ECANCELED && error_log.allow())
    spdlog::warn("blk {}: {} at byte {} failed: {}", path, op_name(s.op), s.offset,
                 std::strerror(-result));
  free_slots.push_back(i);
  return Completion{s.tag, result};
}

std::expected<IoQueue, std::string> IoQueue::create(const DiskImage& disk, unsigned depth) {
  if (depth < 1 || depth > kMaxDepth)
    return std::unexpected(fmt::format("blk {}: queue depth {} is out of 1..{}", disk.path(), depth,
                                       kMaxDepth));
  auto st = std::make_unique<State>();
  io_uring_params params{};
  params.flags = IORING_SETUP_SUBMIT_ALL;  // one bad SQE must not hold back the rest (5.18)
  int err = io_uring_queue_init_params(depth, &st->ring, &params);
  if (err == -EINVAL) {
    params = io_uring_params{};
    err = io_uring_queue_init_params(depth, &st->ring, &params);
  }
  if (err < 0) {
    const char* hint = err == -EPERM    ? " (disabled by sysctl kernel.io_uring_disabled or seccomp)"
                       : err == -ENOMEM ? " (locked-memory limit: raise ulimit -l)"
                                        : "";
    return std::unexpected(fmt::format("blk {}: cannot set up io_uring: {}{}", disk.path(),
                                       std::strerror(-err), hint));
  }
  st->ring_ready = true;
  st->eventfd = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!st->eventfd.valid() || (err = io_uring_register_eventfd(&st->ring, st->eventfd.get())) < 0)
    return std::unexpected(fmt::format("blk {}: cannot set up the completion eventfd: {}",
                                       disk.path(), std::strerror(st->eventfd.valid() ? -err : errno)));
  st->fd = disk.fd();
  st->path = disk.path();
  st->readonly = disk.readonly();
  st->block_device = disk.is_block_device();
  st->discard = disk.discard_supported();
  st->cache = disk.options().cache;
  st->sync = disk.options().aio == DiskOptions::Aio::sync;
  st->fail_sectors = disk.options().fail_sectors;
  st->depth = depth;
  st->slots.resize(depth);
  st->iovecs.resize(std::size_t{depth} * kMaxIovecs);
  st->ready.reserve(depth);
  st->reaping.reserve(depth);
  for (std::uint32_t i = depth; i-- > 0;) st->free_slots.push_back(i);
  return IoQueue(std::move(st));
}

IoQueue::IoQueue(std::unique_ptr<State> state) : state_(std::move(state)) {}
IoQueue::IoQueue(IoQueue&&) noexcept = default;
IoQueue& IoQueue::operator=(IoQueue&&) noexcept = default;
IoQueue::~IoQueue() = default;

int IoQueue::completion_fd() const { return state_->eventfd.get(); }
unsigned IoQueue::depth() const { return state_->depth; }
bool IoQueue::has_ready() const { return !state_->ready.empty(); }
unsigned IoQueue::in_flight() const {
  return state_->depth - static_cast<unsigned>(state_->free_slots.size());
}

void append_iovec(std::vector<iovec>& iov, void* base, std::size_t length) {
  if (!iov.empty() && static_cast<char*>(iov.back().iov_base) + iov.back().iov_len == base) {
    iov.back().iov_len += length;
    return;
  }
  iov.push_back(iovec{base, length});
}

bool IoQueue::queue_read(std::uint64_t offset, std::span<const iovec> iov, Tag tag) {
  return state_->queue_rw(Op::read, offset, iov, tag, false);
}

bool IoQueue::queue_write(std::uint64_t offset, std::span<const iovec> iov, Tag tag, bool fua) {
  return state_->queue_rw(Op::write, offset, iov, tag, fua);
}

bool IoQueue::queue_flush(Tag tag) {
  const auto i = state_->take(tag, Op::flush);
  if (!i) return false;
  if (state_->cache == DiskOptions::Cache::unsafe) return state_->complete_now(*i, 0);
  state_->prep_flush(*i);
  return true;
}

bool IoQueue::queue_discard(std::uint64_t offset, std::uint64_t length, Tag tag) {
  State& st = *state_;
  const auto i = st.take(tag, Op::discard, offset);
  if (!i) return false;
  if (st.readonly) return st.complete_now(*i, -EROFS);
  if (!st.discard) return st.complete_now(*i, -EOPNOTSUPP);
  if (offset > INT64_MAX || length > INT64_MAX - offset) return st.complete_now(*i, -EINVAL);
  if (st.fails(offset, length)) return st.complete_now(*i, -EIO);
  if (length == 0) return st.complete_now(*i, 0);
  // io_uring in Linux 6.1 has no discard opcode for block devices; aio=sync does its own.
  if (st.block_device || st.sync) {
    st.slots[*i].remaining = length;
    st.discards.push_back(*i);
    ::eventfd_write(st.eventfd.get(), 1);  // the poller's reap does the first chunk
    return true;
  }
  io_uring_sqe* sqe = st.next_sqe();
  if (sqe == nullptr) return st.complete_now(*i, -EBUSY);
  io_uring_prep_fallocate(sqe, st.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                          static_cast<off_t>(offset), static_cast<off_t>(length));
  io_uring_sqe_set_data64(sqe, *i);
  return true;
}

int IoQueue::submit() {
  state_->discard_chunk();
  if (io_uring_sq_ready(&state_->ring) == 0) return 0;
  return io_uring_submit(&state_->ring);
}

// A discard done here blocks the calling thread for as long as the device or file system takes:
// one bounded chunk per call, and the eventfd set while more remain, so the I/O thread polls
// stop and its ring between chunks.
void IoQueue::State::discard_chunk() {
  if (discards.empty()) return;
  const std::uint32_t i = discards.front();
  Slot& s = slots[i];
  std::uint64_t range[2] = {s.offset, std::min(s.remaining, kDiscardChunkBytes)};
  const int rc = block_device ? ::ioctl(fd, BLKDISCARD, range)
                              : ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                            static_cast<off_t>(range[0]), static_cast<off_t>(range[1]));
  const int result = rc == 0 ? 0 : -errno;
  if (result == 0) {
    s.offset += range[1];
    s.remaining -= range[1];
  }
  if (result < 0 || s.remaining == 0) {
    discards.pop_front();
    complete_now(i, result);
  }
  if (!discards.empty()) ::eventfd_write(eventfd.get(), 1);
}

void IoQueue::cancel_discards() {
  State& st = *state_;
  for (const std::uint32_t i : st.discards) st.complete_now(i, -ECANCELED);
  st.discards.clear();
}

// Clears the eventfd before harvesting, so a completion that lands afterwards wakes poll().
void IoQueue::begin_reap() {
  State& st = *state_;
  eventfd_t ignored = 0;
  ::eventfd_read(st.eventfd.get(), &ignored);
  if (st.reaping_pos >= st.reaping.size()) {
    st.reaping.clear();
    st.reaping_pos = 0;
  }
  st.reaping.insert(st.reaping.end(), st.ready.begin(), st.ready.end());
  st.ready.clear();
  st.cqe_budget = io_uring_cq_ready(&st.ring);
}

bool IoQueue::next_completion(Completion& out) {
  State& st = *state_;
  if (st.reaping_pos < st.reaping.size()) {
    const std::uint32_t i = st.reaping[st.reaping_pos++];
    out = st.finish(i, st.slots[i].result);
    return true;
  }
  io_uring_cqe* cqe = nullptr;
  while (st.cqe_budget > 0 && io_uring_peek_cqe(&st.ring, &cqe) == 0) {
    --st.cqe_budget;
    const auto i = static_cast<std::uint32_t>(io_uring_cqe_get_data64(cqe));
    const int res = cqe->res;
    io_uring_cqe_seen(&st.ring, cqe);
    if (i >= st.depth) continue;  // not ours: cannot happen, but never index out of the pool
    if (const auto result = st.on_cqe(i, res)) {
      out = st.finish(i, *result);
      return true;
    }
  }
  return false;
}

// Resubmitted remainders and FUA flushes go to the kernel now, not at the caller's next submit.
void IoQueue::finish_reap() {
  if (const int err = submit(); err < 0 && state_->error_log.allow())
    spdlog::warn("blk {}: io_uring_submit failed: {}", state_->path, std::strerror(-err));
}

}  // namespace kxen::blk
