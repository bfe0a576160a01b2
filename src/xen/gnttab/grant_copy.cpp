// GNTTABOP_copy for the guest itself (Xen's gnttab_copy): between its grants to its own domid
// (GNTCOPY_*_gref) and its own RAM frames (gmfn, DOMID_SELF only), with Xen's status codes.
#include <xen/errno.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "kxen/log.hpp"
#include "xen/gnttab/grant_table.hpp"

namespace kxen {

namespace {
static_assert(sizeof(gnttab_copy_t) == 40);
static_assert(offsetof(gnttab_copy_t, dest) == 16);
static_assert(offsetof(gnttab_copy_t, len) == 32);
static_assert(offsetof(gnttab_copy_t, status) == 36);

// The 32-bit caller's layout: xen_pfn_t (the gmfn half of the union) is 4 bytes there.
struct CopyPtr32 {
  std::uint32_t ref_or_gmfn;
  domid_t domid;
  std::uint16_t offset;
};
struct Copy32 {
  CopyPtr32 source, dest;
  std::uint16_t len, flags;
  std::int16_t status;
};
static_assert(sizeof(Copy32) == 24 && offsetof(Copy32, status) == 20);

HypercallOutcome result(std::int64_t rc) { return HypercallOutcome{rc, VcpuAction::resume}; }

gnttab_copy::gnttab_copy_ptr widen(const CopyPtr32& p) {
  gnttab_copy::gnttab_copy_ptr out{};
  out.u.gmfn = p.ref_or_gmfn;  // also sets u.ref: the union's low half
  out.domid = p.domid;
  out.offset = p.offset;
  return out;
}

std::optional<gnttab_copy_t> read_op(GuestVirtual& gva, std::uint64_t at, bool long_mode) {
  if (long_mode) return gva.read_obj<gnttab_copy_t>(at);
  const auto op = gva.read_obj<Copy32>(at);
  if (!op) return std::nullopt;
  gnttab_copy_t out{};
  out.source = widen(op->source);
  out.dest = widen(op->dest);
  out.len = op->len;
  out.flags = op->flags;
  return out;
}

// Xen's gnttab_copy_lock_domain: only DOMID_SELF may name a frame; grants come from a domain.
std::int16_t check_copy_domain(domid_t dom, bool is_gref, domid_t self) {
  if (!is_gref) return dom == DOMID_SELF ? GNTST_okay : GNTST_permission_denied;
  if (dom == DOMID_SELF || dom == self) return GNTST_okay;
  return dom == 0 ? GNTST_permission_denied : GNTST_bad_domain;  // dom0's table is not ours to read
}

bool inside(std::uint32_t off, std::uint32_t len, std::uint32_t window_off, std::uint32_t window_len) {
  return off >= window_off && off + len <= window_off + window_len;
}
}  // namespace

std::int16_t GrantTable::claim_copy_locked(const gnttab_copy::gnttab_copy_ptr& ptr, bool is_gref, bool writable,
                                           CopyBuf& buf) {
  buf = CopyBuf{};
  buf.writable = writable;
  if (!is_gref) {
    const auto page = page_of(ptr.u.gmfn);
    if (!page) return GNTST_bad_page;
    buf.page = page->data();
    buf.window_len = kPageSize;
    return GNTST_okay;
  }
  const auto act = acquire_locked(ptr.u.ref, writable, false, config_.domid);
  if (!act) return act.error();
  buf.pinned = true;
  buf.ref = ptr.u.ref;
  const auto page = page_of((*act)->gfn);
  if (!page) return GNTST_bad_page;  // cannot happen: RAM never moves; the caller still releases
  buf.page = page->data();
  buf.window_off = (*act)->window_off;
  buf.window_len = (*act)->window_len;
  return GNTST_okay;
}

std::int16_t GrantTable::guest_copy(const gnttab_copy_t& op) {
  const bool src_gref = (op.flags & GNTCOPY_source_gref) != 0;
  const bool dst_gref = (op.flags & GNTCOPY_dest_gref) != 0;
  if (const auto st = check_copy_domain(op.source.domid, src_gref, config_.domid); st != GNTST_okay) return st;
  if (const auto st = check_copy_domain(op.dest.domid, dst_gref, config_.domid); st != GNTST_okay) return st;
  std::lock_guard lock(mutex_);
  CopyBuf src, dst;
  std::int16_t st = claim_copy_locked(op.source, src_gref, false, src);
  if (st == GNTST_okay) st = claim_copy_locked(op.dest, dst_gref, true, dst);
  if (st == GNTST_okay) {
    // Same order of checks as Xen's gnttab_copy_buf.
    if (std::uint32_t{op.source.offset} + op.len > kPageSize || std::uint32_t{op.dest.offset} + op.len > kPageSize)
      st = GNTST_bad_copy_arg;
    else if (!inside(op.source.offset, op.len, src.window_off, src.window_len) ||
             !inside(op.dest.offset, op.len, dst.window_off, dst.window_len))
      st = GNTST_general_error;  // outside a v2 sub-page window
    else
      std::memmove(dst.page + op.dest.offset, src.page + op.source.offset, op.len);
  }
  if (dst.pinned) release_locked(dst.ref, true);
  if (src.pinned) release_locked(src.ref, false);
  return st;
}

HypercallOutcome GrantTable::copy_ops(const HypercallRequest& request, GuestVirtual& gva) {
  const std::uint64_t arg = request.args[1];
  const auto count = static_cast<std::uint32_t>(request.args[2]);
  const bool long_mode = request.long_mode;
  if (count > INT_MAX) return result(-XEN_EINVAL);  // Xen takes the count as an int
  const std::uint64_t size = long_mode ? sizeof(gnttab_copy_t) : sizeof(Copy32);
  const std::uint64_t status_off = long_mode ? offsetof(gnttab_copy_t, status) : offsetof(Copy32, status);
  // A budget's worth per invocation: aliased page tables make a short list look endless.
  const std::uint32_t batch = std::min(count, kHypercallWorkBudget);
  for (std::uint32_t i = 0; i < batch; ++i) {
    const std::uint64_t at = arg + i * size;
    const auto op = read_op(gva, at, long_mode);
    if (!op) return result(-XEN_EFAULT);
    const std::int16_t st = guest_copy(*op);
    if (st != GNTST_okay) spdlog::debug("gnttab: copy {} of {} failed with status {}", i, count, st);
    if (!gva.write_obj(at + status_off, st)) return result(-XEN_EFAULT);
  }
  if (batch == count) return result(0);
  // Xen's continuation: the same call on the rest of the list.
  auto args = request.args;
  args[1] = arg + batch * size;
  if (!long_mode) args[1] &= 0xffffffffu;  // a 32-bit caller's pointer wraps as its registers do
  args[2] = count - batch;
  return continue_with(args);
}

}  // namespace kxen
