// __HYPERVISOR_grant_table_op: decode each op (native or 32-bit layout) once, act, copy out once.
#include <xen/errno.h>

#include <cstring>

#include "kxen/log.hpp"
#include "xen/gnttab/grant_table.hpp"

namespace kxen {

namespace {
static_assert(sizeof(gnttab_query_size) == 16);
static_assert(sizeof(gnttab_set_version) == 4);
static_assert(sizeof(gnttab_get_version) == 8);
static_assert(sizeof(gnttab_setup_table) == 24);
static_assert(offsetof(gnttab_setup_table, nr_frames) == 4);
static_assert(offsetof(gnttab_setup_table, status) == 8);
static_assert(offsetof(gnttab_setup_table, frame_list) == 16);
static_assert(sizeof(gnttab_get_status_frames) == 16);
static_assert(offsetof(gnttab_get_status_frames, dom) == 4);
static_assert(offsetof(gnttab_get_status_frames, status) == 6);
static_assert(offsetof(gnttab_get_status_frames, frame_list) == 8);

// The 32-bit ABI differs only in guest handles (4 bytes, 4-byte aligned) and xen_pfn_t (4 bytes).
struct FrameListOp {
  domid_t dom = 0;
  std::uint32_t nr_frames = 0;
  std::uint64_t frame_list = 0;
  std::uint64_t status_off = 0;
  std::size_t size = 0;
};

HypercallOutcome result(std::int64_t rc) { return HypercallOutcome{rc, VcpuAction::resume}; }

std::optional<FrameListOp> read_setup_table(GuestVirtual& gva, std::uint64_t arg, bool long_mode) {
  std::byte raw[sizeof(gnttab_setup_table)] = {};
  const std::size_t size = long_mode ? sizeof(gnttab_setup_table) : 16;
  if (!gva.read(arg, std::span(raw, size))) return std::nullopt;
  FrameListOp op{0, 0, 0, offsetof(gnttab_setup_table, status), size};
  std::memcpy(&op.dom, raw, sizeof op.dom);
  std::memcpy(&op.nr_frames, raw + 4, sizeof op.nr_frames);
  std::memcpy(&op.frame_list, raw + (long_mode ? 16 : 12), long_mode ? 8 : 4);
  return op;
}

std::optional<FrameListOp> read_status_frames(GuestVirtual& gva, std::uint64_t arg, bool long_mode) {
  std::byte raw[sizeof(gnttab_get_status_frames)] = {};
  const std::size_t size = long_mode ? sizeof(gnttab_get_status_frames) : 12;
  if (!gva.read(arg, std::span(raw, size))) return std::nullopt;
  FrameListOp op{0, 0, 0, offsetof(gnttab_get_status_frames, status), size};
  std::memcpy(&op.nr_frames, raw, sizeof op.nr_frames);
  std::memcpy(&op.dom, raw + 4, sizeof op.dom);
  std::memcpy(&op.frame_list, raw + 8, long_mode ? 8 : 4);
  return op;
}

// Writes the gfns (width bytes each) to the guest's frame list, then the status field.
int finish_frame_list(GuestVirtual& gva, std::uint64_t arg, const FrameListOp& op, std::int16_t status,
                      const std::vector<std::uint64_t>& gfns, std::size_t width) {
  for (std::size_t i = 0; status == GNTST_okay && i < gfns.size(); ++i)
    if (!gva.write(op.frame_list + i * width, std::as_bytes(std::span(&gfns[i], 1)).first(width)))
      status = GNTST_bad_virt_addr;
  return gva.write_obj(arg + op.status_off, status) ? 0 : -XEN_EFAULT;
}

// Reads T, runs op, copies T back on success (or always, where Xen does: set_version reports
// the current version even when it refuses the switch).
template <class T, class Op>
HypercallOutcome with_struct(GuestVirtual& gva, std::uint64_t arg, Op&& op, bool copy_back_on_error = false) {
  auto value = gva.read_obj<T>(arg);
  if (!value) return result(-XEN_EFAULT);
  const int rc = op(*value);
  if ((rc == 0 || copy_back_on_error) && !gva.write_obj(arg, *value)) return result(-XEN_EFAULT);
  return result(rc);
}
}  // namespace

HypercallOutcome GrantTable::hypercall(const HypercallRequest& request, GuestVirtual& gva) {
  if (request.args[0] > 0xffffffffu || request.args[2] > 0xffffffffu) return result(-XEN_EINVAL);
  return dispatch(request, gva);
}

HypercallOutcome GrantTable::dispatch(const HypercallRequest& request, GuestVirtual& gva) {
  const auto cmd = static_cast<std::uint32_t>(request.args[0]);
  const std::uint64_t arg = request.args[1];
  const auto count = static_cast<std::uint32_t>(request.args[2]);
  const bool long_mode = request.long_mode;
  // Every table-management op takes exactly one struct (as in Xen).
  const bool single = count == 1;
  switch (cmd) {
    case GNTTABOP_query_size:
      if (!single) return result(-XEN_EINVAL);
      return with_struct<gnttab_query_size>(gva, arg, [&](auto& op) { return query_size(op); });
    case GNTTABOP_set_version:
      if (!single) return result(-XEN_EINVAL);
      return with_struct<gnttab_set_version>(gva, arg, [&](auto& op) { return set_version(op); }, true);
    case GNTTABOP_get_version:
      if (!single) return result(-XEN_EINVAL);
      return with_struct<gnttab_get_version>(gva, arg, [&](auto& op) { return get_version(op); });
    case GNTTABOP_setup_table: {
      if (!single) return result(-XEN_EINVAL);
      const auto op = read_setup_table(gva, arg, long_mode);
      if (!op) return result(-XEN_EFAULT);
      std::vector<std::uint64_t> gfns;
      const std::int16_t st = setup_table(op->dom, op->nr_frames, gfns);
      return result(finish_frame_list(gva, arg, *op, st, gfns, long_mode ? 8 : 4));
    }
    case GNTTABOP_get_status_frames: {
      if (!single) return result(-XEN_EINVAL);
      const auto op = read_status_frames(gva, arg, long_mode);
      if (!op) return result(-XEN_EFAULT);
      std::vector<std::uint64_t> gfns;
      const std::int16_t st = get_status_frames(op->dom, op->nr_frames, gfns);
      return result(finish_frame_list(gva, arg, *op, st, gfns, 8));
    }
    case GNTTABOP_copy: return copy_ops(request, gva);
    default:
      // map/unmap/transfer of foreign grants: this guest is the only domU, nothing to map.
      KXEN_GUEST_WARN("gnttab: unsupported GNTTABOP {}", cmd);
      return result(-XEN_ENOSYS);
  }
}

}  // namespace kxen
