#include "xen/hypercall/console_io.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "kxen/log.hpp"
#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

namespace {
// Like Xen for a domU: keep printable ASCII, newline and tab; drop escape sequences and the rest.
bool printable(char c) { return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t'; }
}  // namespace

HypercallOutcome ConsoleIo::operator()(const HypercallRequest& req, GuestVirtual& mem) {
  const auto cmd = static_cast<std::uint32_t>(req.args[0]);
  const auto count = static_cast<std::uint32_t>(req.args[1]);  // Xen: unsigned int count
  switch (cmd) {
    case CONSOLEIO_write: return {write(count, req.args[2], mem)};
    case CONSOLEIO_read: return {read(count, req.args[2], mem)};
    default: return {-XEN_ENOSYS};
  }
}

std::int64_t ConsoleIo::write(std::uint32_t count, std::uint64_t buffer, GuestVirtual& mem) {
  if (count > kMaxWrite) {
    KXEN_GUEST_WARN("console_io: write of {} bytes cut to {}", count, kMaxWrite);
    count = kMaxWrite;
  }
  std::array<std::byte, kChunk> chunk;
  std::string text;
  for (std::uint32_t done = 0; done < count;) {
    const auto n = std::min<std::uint32_t>(kChunk, count - done);
    // Earlier chunks are already out, as with Xen, which also copies piecewise.
    if (!mem.read(buffer + done, std::span(chunk).first(n))) return -XEN_EFAULT;
    text.clear();
    for (std::uint32_t i = 0; i < n; ++i)
      if (const char c = static_cast<char>(chunk[i]); printable(c)) text.push_back(c);
    if (!text.empty()) host_.console_output(text);
    done += n;
  }
  return 0;
}

std::int64_t ConsoleIo::read(std::uint32_t count, std::uint64_t buffer, GuestVirtual& mem) {
  // The result is a byte count or a negative errno: Xen refuses counts that look negative.
  if (static_cast<std::int32_t>(count) < 0) return -XEN_E2BIG;
  std::array<char, kMaxRead> data;
  const std::size_t want = std::min<std::uint32_t>(count, kMaxRead);
  const std::size_t got = std::min(want, host_.console_input(std::span(data).first(want)));
  if (got == 0) return 0;
  // Input already taken from the host is lost if the buffer is bad: the guest's own fault.
  if (!mem.write(buffer, std::as_bytes(std::span(data).first(got)))) return -XEN_EFAULT;
  return static_cast<std::int64_t>(got);
}

}  // namespace kxen
