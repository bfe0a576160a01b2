// The host side of one NIC queue: where transmitted frames go and received ones come from.
// A tap queue is an fd with a virtio header in front of each frame; user mode (libslirp) runs
// its own sockets and timers. Each port belongs to one queue's I/O thread at a time.
#pragma once

#include <poll.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "net/offload.hpp"

namespace kxen::net {

class HostPort {
 public:
  virtual ~HostPort() = default;
  // Sends one frame whose bytes are `frame` (guest pages); false when the host refused it.
  virtual bool send(const VnetHeader& hdr, std::span<const iovec> frame) = 0;
  // The offloads the frontend can receive: the host then hands over partial checksums and GSO
  // frames of those kinds (TUNSETOFFLOAD). Returns what the port will actually deliver.
  virtual RxFeatures set_rx_offloads(bool csum, const RxFeatures& wanted) = 0;
  // Whether the frontend uses this queue: a multi-queue tap spreads received flows over its
  // attached queues, so a queue no ring serves must be detached or its flows are lost.
  virtual std::expected<void, std::string> set_in_use(bool in_use) = 0;
  // The largest frame receive() may produce (the rx buffers posted must hold it).
  virtual std::size_t max_frame() const = 0;

  // Receiving: the queue's thread adds the port's fds to its poll set (`want_rx`: buffers are
  // posted, so frames may be taken now), and after poll() calls service() with the same
  // entries; the port hands each frame it takes (up to `budget`) to the Receiver.
  class Receiver {
   public:
    virtual ~Receiver() = default;
    // Whether rx buffers for the largest frame are posted.
    virtual bool ready() = 0;
    // Pages (iovecs) to read the next frame into, after the port's own VnetHeader.
    virtual std::span<const iovec> buffers() = 0;
    // The port read a frame of `length` bytes straight into buffers().
    virtual void received(const VnetHeader& hdr, std::size_t length) = 0;
    // The port has the frame in its own memory (user mode): copied into the rx pages.
    virtual void received_copy(const VnetHeader& hdr, std::span<const std::byte> frame) = 0;
    // The port dropped a frame for this queue because ready() said no: counted as an rx drop.
    virtual void dropped() = 0;
  };
  // The queue whose rx buffers take this port's frames from now on (nullptr: none; frames the
  // port produces meanwhile are dropped). Called from the queue's thread.
  virtual void attach(Receiver* rx) = 0;
  virtual void add_polls(std::vector<pollfd>& fds, int& timeout_ms, bool want_rx) = 0;
  // Returns false when the budget ran out with frames still waiting.
  virtual bool service(std::span<const pollfd> fds, Receiver& rx, unsigned budget) = 0;
};

}  // namespace kxen::net
