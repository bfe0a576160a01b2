// HYPERVISOR_xen_version: what Xen 4.17 tells an unprivileged HVM/PVH domain about itself.
#pragma once

#include <cstdint>
#include <span>

#include "kxen/hypercall.hpp"
#include "xen/hypercall/hypercall_config.hpp"

namespace kxen {

inline constexpr std::uint32_t kXenVersionMajor = 4;
inline constexpr std::uint32_t kXenVersionMinor = 17;

class XenVersion final {
 public:
  explicit XenVersion(const HypercallConfig& config) : config_(config) {}
  // args[0] = XENVER_* command, args[1] = guest-virtual argument (or 0).
  HypercallOutcome operator()(const HypercallRequest& req, GuestVirtual& mem) const;

 private:
  std::int64_t get_features(std::uint64_t arg, GuestVirtual& mem) const;
  std::int64_t platform_parameters(const HypercallRequest& req, GuestVirtual& mem) const;
  static std::int64_t put(GuestVirtual& mem, std::uint64_t gva, std::span<const std::byte> bytes);

  const HypercallConfig& config_;
};

}  // namespace kxen
