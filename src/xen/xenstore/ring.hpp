// The guest side of XenStore: a xenstore_domain_interface page (xs_wire.h) shared with a hostile
// guest. Requests are copied out once, assembled across calls and handed to Protocol; replies and
// watch events are queued and written as the guest frees space in the response ring.
//
// Lock order: process_mutex_ -> Shared::mutex -> (XenStore's mutex is never taken under
// Shared::mutex). notify is always called with no lock of ours held.
#pragma once

#include <atomic>
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "xen/xenstore/protocol.hpp"
#include "xen/xenstore/store.hpp"

namespace kxen::xenstore {

class XenStoreRing final {
 public:
  using Notify = std::function<void()>;  // signals the guest's store event channel

  // `page` must hold a whole, 4-byte aligned xenstore_domain_interface. Advertises reconnection
  // and the error indicator in server_features. Error text when the page is unusable.
  static std::expected<std::unique_ptr<XenStoreRing>, std::string> create(XenStore& store, DomId domid,
                                                                         std::span<std::byte> page, Notify notify);
  ~XenStoreRing();
  XenStoreRing(const XenStoreRing&) = delete;
  XenStoreRing& operator=(const XenStoreRing&) = delete;

  // Handles a reconnect request, consumes and answers requests and flushes queued output.
  // Returns whether it consumed or produced anything, so the caller signals the guest. Never
  // waits for another thread's process(): that call serves this one's kick too and returns true
  // for it, so a call that found the ring busy returns false.
  // Watch events raised from other threads outside process() call notify themselves.
  // In-process watch callbacks fired by the guest's requests run inside process(), on the
  // caller's thread: they must not call process() and should hand slow work to their own thread.
  bool process();

  // True after a protocol violation or bad ring index (the "error" field says which) until the
  // guest asks for a reconnect.
  bool broken() const;
  // Watch events dropped because the guest did not drain its ring.
  std::size_t dropped_events() const;
  // Replies and events waiting for room in the response ring: at most about 256 KiB.
  std::size_t queued_bytes() const;

 private:
  struct Shared;
  XenStoreRing(XenStore& store, DomId domid, std::shared_ptr<Shared> shared);

  enum class Input { none, message, error };
  Input read_input(std::string& message, bool& consumed);
  bool handle_one(bool& produced);
  bool process_locked();
  void reconnect();

  std::mutex process_mutex_;
  std::atomic<bool> kicked_{false};  // a process() call since the server last looked
  std::shared_ptr<Shared> shared_;  // also held (weakly) by the store's watch sink
  Protocol protocol_;
  std::string partial_;             // a request being assembled across calls
  DomId domid_;
};

}  // namespace kxen::xenstore
