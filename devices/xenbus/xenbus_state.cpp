#include "xenbus/xenbus_state.hpp"

#include <charconv>

namespace kxen::xenbus {

Transition on_frontend_state(XenbusState backend, XenbusState frontend) {
  const bool serving = backend == XenbusStateConnected;
  switch (frontend) {
    case XenbusStateInitialising:
      // A frontend that starts over: after a clean close (blkback's "prepare for reconnect"),
      // or after a reset that skipped Closing (kexec, a crashed driver).
      if (backend == XenbusStateClosed) return {BackendStep::reinit, XenbusStateInitWait};
      if (serving || backend == XenbusStateClosing) return {BackendStep::disconnect, XenbusStateInitWait};
      return {};
    case XenbusStateInitialised:
    case XenbusStateConnected:
      // Connect once, from InitWait; a repeated watch on an already Connected frontend is a no-op.
      if (backend == XenbusStateInitWait) return {BackendStep::connect, XenbusStateConnected};
      return {};
    case XenbusStateClosing:
      if (backend == XenbusStateClosing || backend == XenbusStateClosed) return {};
      return {BackendStep::disconnect, XenbusStateClosing};
    case XenbusStateClosed:
    case XenbusStateUnknown:  // the frontend's node vanished
      if (backend == XenbusStateClosed) return {};
      return {BackendStep::disconnect, XenbusStateClosed};
    case XenbusStateInitWait:
    case XenbusStateReconfiguring:
    case XenbusStateReconfigured:
      return {};  // not a frontend's to enter here; no feature kxen offers uses reconfiguring
  }
  return {};
}

std::optional<XenbusState> parse_state(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || value > XenbusStateReconfigured)
    return std::nullopt;
  return static_cast<XenbusState>(value);
}

std::string_view state_name(XenbusState state) {
  static constexpr std::string_view names[] = {"Unknown", "Initialising", "InitWait", "Initialised", "Connected",
                                               "Closing", "Closed", "Reconfiguring", "Reconfigured"};
  const auto index = static_cast<unsigned>(state);
  return index < std::size(names) ? names[index] : "invalid";
}

}  // namespace kxen::xenbus
