#include "xen/hypercall/xen_version.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "kxen/guest_memory.hpp"
#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

namespace {
constexpr std::string_view kCapabilities = "hvm-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p";
constexpr std::string_view kDenied = "<denied>";  // what Xen's XSM default gives a domU

// Zero-fills dst, then copies src truncated so that a NUL always terminates it.
void copy_cstr(std::span<char> dst, std::string_view src) {
  std::fill(dst.begin(), dst.end(), '\0');
  const std::size_t n = std::min(src.size(), dst.size() - 1);
  std::memcpy(dst.data(), src.data(), n);
}

template <class T>
std::span<const std::byte> bytes_of(const T& value) {
  return std::as_bytes(std::span<const T, 1>(&value, 1));
}

xen_compile_info_t compile_info() {
  xen_compile_info_t info;
  copy_cstr(info.compiler, "gcc " __VERSION__);
  copy_cstr(info.compile_by, "kxen");
  copy_cstr(info.compile_domain, "kxen");
  copy_cstr(info.compile_date, "");
  return info;
}
}  // namespace

std::int64_t XenVersion::put(GuestVirtual& mem, std::uint64_t gva, std::span<const std::byte> bytes) {
  return mem.write(gva, bytes) ? 0 : -XEN_EFAULT;
}

HypercallOutcome XenVersion::operator()(const HypercallRequest& req, GuestVirtual& mem) const {
  const auto cmd = static_cast<std::uint32_t>(req.args[0]);  // Xen takes an int command
  const std::uint64_t arg = req.args[1];
  switch (cmd) {
    case XENVER_version:
      return {static_cast<std::int64_t>((kXenVersionMajor << 16) | kXenVersionMinor)};
    case XENVER_extraversion: {
      xen_extraversion_t extra;
      copy_cstr(extra, config_.extraversion);
      return {put(mem, arg, bytes_of(extra))};
    }
    case XENVER_compile_info:
      return {put(mem, arg, bytes_of(compile_info()))};
    case XENVER_capabilities: {
      xen_capabilities_info_t caps;
      copy_cstr(caps, kCapabilities);
      return {put(mem, arg, bytes_of(caps))};
    }
    case XENVER_changeset: {
      xen_changeset_info_t changeset;
      copy_cstr(changeset, "kxen " KXEN_VERSION);
      return {put(mem, arg, bytes_of(changeset))};
    }
    case XENVER_platform_parameters:
      return {platform_parameters(req, mem)};
    case XENVER_get_features:
      return {get_features(arg, mem)};
    case XENVER_pagesize:
      return {arg != 0 ? -XEN_EINVAL : static_cast<std::int64_t>(kPageSize)};
    case XENVER_guest_handle:
      return {put(mem, arg, std::as_bytes(std::span(config_.guest_handle)))};
    case XENVER_commandline:  // Xen copies "<denied>" (with its NUL) and succeeds
      return {put(mem, arg, std::as_bytes(std::span(kDenied.data(), kDenied.size() + 1)))};
    case XENVER_build_id:
      return {-XEN_EPERM};
    default:
      return {-XEN_ENOSYS};
  }
}

std::int64_t XenVersion::get_features(std::uint64_t arg, GuestVirtual& mem) const {
  auto info = mem.read_obj<xen_feature_info_t>(arg);
  if (!info) return -XEN_EFAULT;
  if (info->submap_idx != 0) return -XEN_EINVAL;  // XENFEAT_NR_SUBMAPS == 1
  info->submap = config_.features;
  return put(mem, arg, bytes_of(*info));
}

std::int64_t XenVersion::platform_parameters(const HypercallRequest& req, GuestVirtual& mem) const {
  // Xen 4.17: 64-bit callers get HYPERVISOR_VIRT_START; 32-bit HVM callers the 4-byte compat
  // struct with 0 (no compat hypervisor hole in an HVM address space).
  if (!req.long_mode) return put(mem, req.args[1], bytes_of(std::uint32_t{0}));
  xen_platform_parameters_t params{};
  params.virt_start = __HYPERVISOR_VIRT_START;
  return put(mem, req.args[1], bytes_of(params));
}

}  // namespace kxen
