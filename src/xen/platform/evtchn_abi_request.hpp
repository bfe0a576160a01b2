// Which event-channel ABIs kxen offers the guest (--evtchn-abi): Linux tries FIFO first and
// falls back to 2-level when EVTCHNOP_init_control fails.
#pragma once

namespace kxen {

enum class EvtchnAbiRequest { automatic, fifo, two_level };

// The one place `auto` is resolved: under KVM's Xen support its in-kernel 2-level delivery
// measured faster than kxen's user-space FIFO (tests/bench/README.md), so FIFO only elsewhere.
inline bool fifo_offered(EvtchnAbiRequest request, bool kvm_accel) {
  switch (request) {
    case EvtchnAbiRequest::fifo: return true;
    case EvtchnAbiRequest::two_level: return false;
    case EvtchnAbiRequest::automatic: break;
  }
  return !kvm_accel;
}

}  // namespace kxen
