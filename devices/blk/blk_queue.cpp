#include "blk/blk_queue.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "kxen/log.hpp"
#include "xenbus/io_thread.hpp"

namespace kxen::blk {
namespace {

// Requests taken per pass before the thread looks at completions and stop again.
constexpr unsigned kRequestBudget = 64;

void drain_eventfd(int fd) {
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = ::read(fd, &count, sizeof count);  // non-blocking: EAGAIN is fine
}

bool carries_data(std::uint8_t op) { return op != BLKIF_OP_DISCARD; }

}  // namespace

std::expected<std::unique_ptr<BlkQueue>, std::string> BlkQueue::start(Parts parts) {
  std::vector<std::span<std::byte>> pages;
  for (const GrantMapping& m : parts.ring_pages) pages.push_back(m.writable_data());
  auto ring = BlkRing::create(parts.abi, std::move(pages));
  if (!ring) return std::unexpected(ring.error());
  auto io = IoQueue::create(*parts.disk, ring->size());
  if (!io) return std::unexpected(io.error());
  Fd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) return std::unexpected(fmt::format("eventfd: {}", std::strerror(errno)));
  std::unique_ptr<BlkQueue> queue(new BlkQueue(std::move(parts), std::move(*ring), std::move(*io), std::move(stop_fd)));
  queue->thread_ = std::thread([q = queue.get()] { q->run(); });
  return queue;
}

BlkQueue::BlkQueue(Parts parts, BlkRing ring, IoQueue io, Fd stop_fd)
    : parts_(std::move(parts)), ring_(std::move(ring)), io_(std::move(io)), stop_fd_(std::move(stop_fd)) {
  // One slot per ring entry: a frontend cannot have more requests outstanding than that.
  slots_.resize(ring_.size());
  for (std::uint32_t i = ring_.size(); i-- > 0;) free_slots_.push_back(i);
}

BlkQueue::~BlkQueue() { stop(); }

void BlkQueue::stop() {
  if (!stopping_.exchange(true)) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (!parts_.ring_pages.empty()) {
    parts_.grants->unmap(parts_.ring_pages);
    parts_.ring_pages.clear();
  }
  parts_.channel.reset();
}

void BlkQueue::run() {
  prepare_io_thread(parts_.label);
  try {
    serve();
  } catch (const std::exception& e) {
    spdlog::error("{}: I/O thread failed: {}", parts_.label, e.what());
  }
  drain_in_flight();  // the kernel may still be writing into guest pages
}

void BlkQueue::serve() {
  bool more = true;  // look at the ring once at start: requests may predate the binding
  while (!stopping_.load()) {
    std::array<pollfd, 3> fds{{{stop_fd_.get(), POLLIN, 0},
                               {parts_.channel->eventfd(), POLLIN, 0},
                               {io_.completion_fd(), POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), more ? 0 : -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("poll: {}", std::strerror(errno)));
    }
    if (stopping_.load()) return;
    if (fds[1].revents != 0) drain_eventfd(parts_.channel->eventfd());
    io_.reap([this](IoQueue::Tag tag, int result) { complete(tag, result); });
    more = !ring_failed_ && !take_requests();
    if (io_.submit() < 0) more = true;  // the kernel's queue is full: retry soon
    // Requests done while taken (aio=sync, refusals, unsafe flushes) are answered in this pass;
    // their completion may release a held barrier, which no later wake-up would report.
    if (io_.has_ready() && io_.reap([this](IoQueue::Tag tag, int result) { complete(tag, result); }) != 0)
      more = more || !ring_failed_;
    publish();
  }
}

bool BlkQueue::take_requests() {
  for (unsigned budget = kRequestBudget;;) {
    if (held_barrier_ || barrier_in_flight_) {
      if (barrier_in_flight_ || io_.in_flight() != 0) return true;  // its completion wakes us
      const blkif_request_t barrier = *held_barrier_;
      held_barrier_.reset();
      dispatch(barrier);
      if (barrier_in_flight_) return true;
    }
    auto pending = ring_.pending();
    if (!pending) {
      fail_ring(pending.error().message());
      return true;
    }
    if (*pending == 0) {
      if (!ring_.final_check()) return true;
      continue;
    }
    for (;;) {
      if (budget == 0) return false;
      auto raw = ring_.take();
      if (!raw) break;
      --budget;
      ++stats_.requests;
      if (raw->operation == BLKIF_OP_WRITE_BARRIER && io_.in_flight() != 0) {
        held_barrier_ = *raw;  // every earlier request completes first
        break;
      }
      dispatch(*raw);
      if (barrier_in_flight_) return true;
    }
  }
}

void BlkQueue::dispatch(const blkif_request_t& raw) {
  auto read_page = [this](grant_ref_t ref, std::span<std::byte> out) { return parts_.grants->copy_from(ref, 0, out); };
  parts_.limits.disk_sectors = parts_.disk->sectors();  // the image may be resized while connected
  auto request = decode_request(raw, parts_.limits, read_page);
  if (!request) {
    KXEN_GUEST_WARN("{}: request {:#x} refused: {}", parts_.label, request.error().id, request.error().reason);
    respond(request.error().id, request.error().operation, request.error().status);
    return;
  }
  if (!start_io(*request)) respond(request->id, request->operation, BLKIF_RSP_ERROR);
}

bool BlkQueue::start_io(BlkRequest& request) {
  if (free_slots_.empty()) return false;  // cannot happen: the ring bounds outstanding requests
  const std::uint32_t index = free_slots_.back();
  InFlight& slot = slots_[index];
  slot.id = request.id;
  slot.operation = request.operation;
  slot.mappings.clear();
  slot.iov.clear();
  if (carries_data(request.operation) && !request.segments.empty() && !map_segments(request, slot)) return false;
  const std::uint64_t offset = request.sector * 512;
  bool queued = false;
  switch (request.operation) {
    case BLKIF_OP_READ:
      queued = io_.queue_read(offset, slot.iov, index);
      break;
    case BLKIF_OP_WRITE:
      queued = io_.queue_write(offset, slot.iov, index);
      break;
    case BLKIF_OP_FLUSH_DISKCACHE:
    case BLKIF_OP_WRITE_BARRIER:
      // With data: the write, then an fdatasync that also covers every write completed before.
      queued = slot.iov.empty() ? io_.queue_flush(index) : io_.queue_write(offset, slot.iov, index, true);
      barrier_in_flight_ = queued && request.operation == BLKIF_OP_WRITE_BARRIER;
      break;
    case BLKIF_OP_DISCARD:
      queued = io_.queue_discard(offset, request.nr_sectors * 512, index);
      break;
    default:
      break;
  }
  if (!queued) {
    parts_.grants->unmap(slot.mappings);
    slot.mappings.clear();
    return false;
  }
  free_slots_.pop_back();
  return true;
}

bool BlkQueue::map_segments(const BlkRequest& request, InFlight& slot) {
  const bool to_guest = request.operation == BLKIF_OP_READ;
  refs_.clear();
  for (const Segment& s : request.segments) refs_.push_back(s.gref);
  parts_.grants->map(refs_, to_guest, mapped_);
  bool ok = true;
  for (std::size_t i = 0; i < mapped_.size(); ++i) {
    const auto& mapped = mapped_[i];
    if (!mapped) {
      KXEN_GUEST_WARN("{}: request {:#x}: grant {} refused ({})", parts_.label, request.id, refs_[i], mapped.error());
      ok = false;
      continue;
    }
    slot.mappings.push_back(*mapped);
    const Segment& s = request.segments[i];
    // A read writes guest memory: only a writable mapping offers that span.
    std::byte* page = to_guest ? mapped->writable_data().data() : const_cast<std::byte*>(mapped->data().data());
    append_iovec(slot.iov, page + s.offset_bytes(), s.length_bytes());
  }
  if (!ok) {
    parts_.grants->unmap(slot.mappings);
    slot.mappings.clear();
    slot.iov.clear();
  }
  return ok;
}

void BlkQueue::complete(IoQueue::Tag tag, int result) {
  if (tag >= slots_.size()) return;
  InFlight& slot = slots_[tag];
  parts_.grants->unmap(slot.mappings);
  if (result < 0) KXEN_GUEST_WARN("{}: request {:#x} failed on the host: {}", parts_.label, slot.id, std::strerror(-result));
  const std::int16_t status = result == 0 ? BLKIF_RSP_OKAY : result == -EOPNOTSUPP ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR;
  if (slot.operation == BLKIF_OP_WRITE_BARRIER) barrier_in_flight_ = false;
  respond(slot.id, slot.operation, status);
  slot.mappings.clear();
  slot.iov.clear();
  free_slots_.push_back(static_cast<std::uint32_t>(tag));
}

void BlkQueue::respond(std::uint64_t id, std::uint8_t operation, std::int16_t status) {
  if (status != BLKIF_RSP_OKAY) ++stats_.errors;
  if (!ring_.push(make_response(id, operation, status))) KXEN_GUEST_WARN("{}: response without a request", parts_.label);
}

void BlkQueue::publish() {
  if (ring_.publish()) parts_.channel->notify();
}

void BlkQueue::fail_ring(std::string_view why) {
  // A frontend that corrupts its own ring indexes gets no more service on it (blkback's choice).
  if (!ring_failed_) KXEN_GUEST_WARN("{}: ring disabled: {}", parts_.label, why);
  ring_failed_ = true;
}

void BlkQueue::drain_in_flight() {
  io_.cancel_discards();  // a whole-disk discard could otherwise hold stop() for minutes
  for (int waits = 0; io_.in_flight() != 0 && waits < 3000; ++waits) {
    pollfd fd{io_.completion_fd(), POLLIN, 0};
    ::poll(&fd, 1, 10);
    io_.reap([this](IoQueue::Tag tag, int result) { complete(tag, result); });
  }
  publish();
}

}  // namespace kxen::blk
