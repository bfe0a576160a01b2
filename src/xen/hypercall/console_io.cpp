#include "xen/hypercall/console_io.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "kxen/log.hpp"
#include "xen/hypercall/console_filter.hpp"
#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

HypercallOutcome ConsoleIo::operator()(const HypercallRequest& req, GuestVirtual& mem) {
  const auto cmd = static_cast<std::uint32_t>(req.args[0]);
  const auto count = static_cast<std::uint32_t>(req.args[1]);  // Xen: unsigned int count
  switch (cmd) {
    case CONSOLEIO_write: return write(req, mem);
    case CONSOLEIO_read: return {read(count, req.args[2], mem)};
    default: return {-XEN_ENOSYS};
  }
}

HypercallOutcome ConsoleIo::write(const HypercallRequest& req, GuestVirtual& mem) {
  const auto count = static_cast<std::uint32_t>(req.args[1]);
  const std::uint64_t buffer = req.args[2];
  const std::uint32_t batch = std::min(count, kMaxWrite);
  std::array<std::byte, kChunk> chunk;
  std::string text;
  for (std::uint32_t done = 0; done < batch;) {
    const auto n = std::min<std::uint32_t>(kChunk, batch - done);
    // Earlier chunks are already out, as with Xen, which also copies piecewise.
    if (!mem.read(buffer + done, std::span(chunk).first(n))) return {-XEN_EFAULT};
    text.clear();
    append_console_text(text, std::string_view(reinterpret_cast<const char*>(chunk.data()), n));
    if (!text.empty()) host_.console_output(text);
    done += n;
  }
  if (batch == count) return {0};
  // Xen's continuation: the rest of the buffer in the next invocation.
  auto args = req.args;
  args[1] = count - batch;
  args[2] = req.long_mode ? buffer + batch : (buffer + batch) & 0xffffffffu;
  return continue_with(args);
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
