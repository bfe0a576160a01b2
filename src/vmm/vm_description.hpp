// One description of a VM, from which every boot of it is built: `kxen run`'s flags map onto it
// (a config-file reader will map onto the same). Devices arrive opened and locked, so a
// description that validates can boot.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvm/transport.hpp"
#include "xen/platform/evtchn_abi_request.hpp"
#include "xenbus/backend.hpp"

namespace kxen {

struct VmDescription {
  std::string name = "kxen-guest";
  std::string kernel;  // a PVH ELF or a Linux bzImage
  std::optional<std::string> initrd;
  std::string cmdline;
  std::uint64_t memory_bytes = 512ull << 20;
  std::uint32_t vcpus = 1;
  TransportRequest transport = TransportRequest::automatic;
  EvtchnAbiRequest evtchn_abi = EvtchnAbiRequest::automatic;
  std::string kvm_path = "/dev/kvm";
  bool prefault_memory = false;
  std::optional<std::string> kernel_cache_dir;  // unset: the default directory, if usable
  bool no_kernel_cache = false;
  std::vector<std::shared_ptr<xenbus::BackendFactory>> devices;  // XenBus devices, in order
};

// What a description gets wrong as a whole (no vCPU, two devices with one id): one line.
std::optional<std::string> validate(const VmDescription& description);

}  // namespace kxen
