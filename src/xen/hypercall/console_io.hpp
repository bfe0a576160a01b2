// HYPERVISOR_console_io: the guest's emergency console (earlyprintk=xen), wired to the host.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kxen/hypercall.hpp"

namespace kxen {

class ConsoleIo final {
 public:
  // Bytes written per invocation; a longer write continues itself as Xen's does (Linux writes
  // at most a printk line, 1 KiB, per call).
  static constexpr std::uint32_t kMaxWrite = 64 * 1024;
  static constexpr std::size_t kChunk = 256;        // copied from the guest per step
  static constexpr std::uint32_t kMaxRead = 4096;   // handed to the guest per call

  explicit ConsoleIo(HypercallHost& host) : host_(host) {}
  // args[0] = CONSOLEIO_write/read, args[1] = count, args[2] = guest-virtual buffer.
  HypercallOutcome operator()(const HypercallRequest& req, GuestVirtual& mem);

 private:
  HypercallOutcome write(const HypercallRequest& req, GuestVirtual& mem);
  std::int64_t read(std::uint32_t count, std::uint64_t buffer, GuestVirtual& mem);

  HypercallHost& host_;
};

}  // namespace kxen
