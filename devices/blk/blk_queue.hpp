// One blkif ring of a disk, served on its own I/O thread: requests are copied off the ring,
// decoded, their segments mapped in one batch and handed to io_uring straight from guest memory;
// completions become responses. The frontend's kick wakes the thread through an eventfd.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "blk/blk_ring.hpp"
#include "blk/blkif_request.hpp"
#include "blk/disk_image.hpp"
#include "blk/io_queue.hpp"
#include "kvm/fd.hpp"
#include "xenbus/backend.hpp"
#include "xenbus/shared_ring.hpp"

namespace kxen::blk {

struct BlkQueueStats {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> errors{0};  // error responses (decode, grants, I/O)
};

// Threads: start() and stop() belong to the XenBus thread; everything else runs on the queue's
// own I/O thread. The ring's grant mappings and the channel are owned here and released on stop.
class BlkQueue final {
 public:
  struct Parts {
    std::string label;  // "blk xvda q0" for logs
    DiskImage* disk = nullptr;
    BlkLimits limits;
    xenbus::GrantAccess* grants = nullptr;
    std::vector<GrantMapping> ring_pages;
    BlkifAbi abi = BlkifAbi::x86_64;  // the layout of the ring's entries
    std::unique_ptr<xenbus::EventChannel> channel;
  };
  static std::expected<std::unique_ptr<BlkQueue>, std::string> start(Parts parts);
  ~BlkQueue();
  BlkQueue(const BlkQueue&) = delete;
  BlkQueue& operator=(const BlkQueue&) = delete;

  // Stops taking requests, waits for the I/O in flight and joins the thread. Idempotent.
  void stop();
  const BlkQueueStats& stats() const { return stats_; }

 private:
  // A request handed to io_uring; its slot index is the io_uring tag. A slot's vectors keep their
  // capacity from request to request (at most the ring's segment limit), so serving allocates nothing.
  struct InFlight {
    std::uint64_t id = 0;
    std::uint8_t operation = 0;
    std::vector<GrantMapping> mappings;
    std::vector<iovec> iov;
  };

  BlkQueue(Parts parts, BlkRing ring, IoQueue io, Fd stop_fd);
  void run();
  void serve();
  // Takes requests within the work budget; false when the budget ran out (more may wait).
  bool take_requests();
  void dispatch(const blkif_request_t& raw);
  bool start_io(BlkRequest& request);
  bool map_segments(const BlkRequest& request, InFlight& slot);
  void complete(IoQueue::Tag tag, int result);
  void respond(std::uint64_t id, std::uint8_t operation, std::int16_t status);
  void publish();
  void drain_in_flight();
  void fail_ring(std::string_view why);

  Parts parts_;
  BlkRing ring_;
  IoQueue io_;
  Fd stop_fd_;
  std::vector<InFlight> slots_;
  std::vector<grant_ref_t> refs_;               // scratch of map_segments
  xenbus::GrantAccess::MapResults mapped_;      // scratch of map_segments
  std::vector<std::uint32_t> free_slots_;
  std::optional<blkif_request_t> held_barrier_;  // waits for the requests before it
  bool barrier_in_flight_ = false;
  bool ring_failed_ = false;
  BlkQueueStats stats_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kxen::blk
