// Command-line options of `kxen run`, parsed and validated with CLI11.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "kvm/transport.hpp"
#include "xen/platform/evtchn_abi_request.hpp"

#include "blk/disk_options.hpp"
#include "net/net_options.hpp"

namespace kxen {

// What a guest reboot does: boot the guest again, or end kxen with the reboot exit code.
enum class OnReboot { restart, exit };

struct RunOptions {
  std::vector<blk::DiskOptions> disks;  // --disk, parsed; opened by the launcher
  std::vector<std::string> net_specs;  // --net as given; parsed into nets by validation
  std::vector<net::NetOptions> nets;   // --net, parsed; host ports opened by the launcher
  std::string kernel;
  std::optional<std::string> initrd;
  std::string cmdline;
  std::uint64_t memory_bytes = 512ull << 20;
  std::uint32_t vcpus = 1;
  TransportRequest transport = TransportRequest::automatic;
  EvtchnAbiRequest evtchn_abi = EvtchnAbiRequest::automatic;
  int verbosity = 0;
  std::string kvm_path = "/dev/kvm";
  OnReboot on_reboot = OnReboot::restart;
  double shutdown_timeout_s = 30;  // after SIGTERM/SIGINT: how long the guest gets to power off
  bool prefault_memory = false;
  std::optional<std::string> kernel_cache_dir;  // unset: the default directory, if usable
  bool no_kernel_cache = false;
  std::optional<std::string> gdb;  // --gdb tcp:[HOST]:PORT | unix:PATH, checked by the launcher
  bool gdb_wait = false;           // --gdb-wait: stop before the first guest instruction
};

// Either options to run, or an exit code with everything already printed (help, version, errors).
using ParseResult = std::variant<RunOptions, int>;

ParseResult parse_command_line(int argc, char** argv);

// "512M", "2G", "1024" (MiB), "65536K": bytes, or nullopt when malformed or overflowing.
std::optional<std::uint64_t> parse_memory_size(const std::string& text);

}  // namespace kxen
