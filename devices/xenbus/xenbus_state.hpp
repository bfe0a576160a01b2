// The XenBus handshake as a pure function: given the backend's state and the frontend's newly
// read one, what the backend does. Written once for every device (blkback's and netback's
// frontend_changed agree on it), so backends only implement connect and disconnect.
#pragma once

#include "xen/xenstore/store.hpp"  // first: it pins the Xen interface version

#include <xen/io/xenbus.h>

#include <optional>
#include <string_view>

namespace kxen::xenbus {

enum class BackendStep {
  none,
  connect,          // map the frontend's rings and go Connected
  disconnect,       // stop serving, then enter `next`
  reinit,           // a fresh frontend after Closed (or a reset one): back to InitWait
};

struct Transition {
  BackendStep step = BackendStep::none;
  std::optional<XenbusState> next;  // the backend's new state, if it changes
};

Transition on_frontend_state(XenbusState backend, XenbusState frontend);

// Parses a `state` node; nullopt for anything but a decimal 0..8 (a hostile frontend's junk).
std::optional<XenbusState> parse_state(std::string_view text);
std::string_view state_name(XenbusState state);

}  // namespace kxen::xenbus
