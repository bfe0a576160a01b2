// GNTTABOP_copy issued by the guest on its own grants and frames (Xen's gnttab_copy rules).
#include <xen/errno.h>

#include <array>

#include "gnttab_fakes.hpp"

using namespace kxen;
using namespace kxen::test;

namespace {
constexpr domid_t kSelf = 1;  // GnttabWorld's domid
constexpr std::uint64_t kSrcGfn = 0x60, kDstGfn = 0x61, kRoGfn = 0x62;
constexpr Gpa kOps = 0x30000;

gnttab_copy_t copy_op(std::uint16_t flags, std::uint64_t src, std::uint64_t dst, std::uint16_t len,
                      std::uint16_t src_off = 0, std::uint16_t dst_off = 0) {
  gnttab_copy_t op{};
  op.flags = flags;
  if (flags & GNTCOPY_source_gref) op.source.u.ref = static_cast<grant_ref_t>(src); else op.source.u.gmfn = src;
  if (flags & GNTCOPY_dest_gref) op.dest.u.ref = static_cast<grant_ref_t>(dst); else op.dest.u.gmfn = dst;
  op.source.domid = op.dest.domid = DOMID_SELF;
  op.source.offset = src_off;
  op.dest.offset = dst_off;
  op.len = len;
  op.status = 99;
  return op;
}

std::byte at(GnttabWorld& w, std::uint64_t gfn, std::uint32_t off) {
  return *w.memory.read_obj<std::byte>((gfn << 12) + off);
}

void fill(GnttabWorld& w, std::uint64_t gfn, std::uint8_t value) {
  std::array<std::uint8_t, 4096> page;
  page.fill(value);
  REQUIRE(w.memory.write_obj(gfn << 12, page));
}

HypercallRequest copy_call(std::uint32_t count, bool long_mode = true) {
  HypercallRequest r;
  r.nr = __HYPERVISOR_grant_table_op;
  r.long_mode = long_mode;
  r.args = {GNTTABOP_copy, kOps, count, 0, 0, 0};
  return r;
}

void self_grants_v1(GnttabWorld& w) {
  w.grant_v1(10, GTF_permit_access, kSelf, kSrcGfn);
  w.grant_v1(11, GTF_permit_access, kSelf, kDstGfn);
  w.grant_v1(12, GTF_permit_access | GTF_readonly, kSelf, kRoGfn);
  w.grant_v1(13, GTF_permit_access, 0, kSrcGfn);  // to dom0, not to us
}
}  // namespace

TEST_CASE("guest copy between its own v1 grants and frames", "[gnttab]") {
  GnttabWorld w;
  self_grants_v1(w);
  fill(w, kSrcGfn, 0xab);
  fill(w, kDstGfn, 0);
  fill(w, kRoGfn, 0x11);
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_source_gref | GNTCOPY_dest_gref, 10, 11, 4096)) == GNTST_okay);
  CHECK(at(w, kDstGfn, 4095) == std::byte{0xab});
  CHECK((w.flags(10) & (GTF_reading | GTF_writing)) == 0);  // released after the copy
  CHECK((w.flags(11) & (GTF_reading | GTF_writing)) == 0);
  // A read-only grant is a fine source but refuses to be written.
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_source_gref, 12, kDstGfn, 16, 0, 100)) == GNTST_okay);
  CHECK(at(w, kDstGfn, 100) == std::byte{0x11});
  CHECK(at(w, kDstGfn, 116) == std::byte{0xab});
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_dest_gref, kSrcGfn, 12, 16)) == GNTST_general_error);
  CHECK(at(w, kRoGfn, 0) == std::byte{0x11});
  // Grants to someone else, bad refs, out-of-page ranges, frames that are not RAM.
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_source_gref, 13, kDstGfn, 16)) == GNTST_general_error);
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_source_gref, 100000, kDstGfn, 16)) == GNTST_bad_gntref);
  CHECK(w.table.guest_copy(copy_op(0, kSrcGfn, kDstGfn, 16, 4090)) == GNTST_bad_copy_arg);
  CHECK(w.table.guest_copy(copy_op(0, kFrameGfn, kDstGfn, 16)) == GNTST_bad_page);
  CHECK(w.table.guest_copy(copy_op(0, kSrcGfn, 0x7000, 16)) == GNTST_bad_page);
}

TEST_CASE("guest copy domain rules", "[gnttab]") {
  GnttabWorld w;
  self_grants_v1(w);
  auto op = copy_op(0, kSrcGfn, kDstGfn, 8);
  op.source.domid = kSelf;  // frames only with DOMID_SELF, even for our own numeric id
  CHECK(w.table.guest_copy(op) == GNTST_permission_denied);
  op = copy_op(GNTCOPY_source_gref, 10, kDstGfn, 8);
  op.source.domid = kSelf;  // grants by numeric id are fine
  CHECK(w.table.guest_copy(op) == GNTST_okay);
  op.source.domid = 7;
  CHECK(w.table.guest_copy(op) == GNTST_bad_domain);
  op.source.domid = 0;
  CHECK(w.table.guest_copy(op) == GNTST_permission_denied);
}

TEST_CASE("guest copy and backend pins do not share an entry", "[gnttab]") {
  GnttabWorld w;
  w.grant_v1(20, GTF_permit_access, 0, kSrcGfn);
  auto m = w.table.map(20, false);
  REQUIRE(m);
  // While dom0 holds its pin, re-granting the entry to ourselves does not let us ride on it.
  w.grant_v1(20, GTF_permit_access | GTF_reading, kSelf, kSrcGfn);
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_source_gref, 20, kDstGfn, 8)) == GNTST_general_error);
  REQUIRE(w.table.unmap(*m) == GNTST_okay);
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_source_gref, 20, kDstGfn, 8)) == GNTST_okay);
  w.grant_v1(21, GTF_permit_access, kSelf, kSrcGfn);
  CHECK_FALSE(w.table.map(21, false));  // a guest self-grant is not for dom0
}

TEST_CASE("guest copy honours v2 sub-page windows and status words", "[gnttab]") {
  GnttabWorld w;
  w.to_v2();
  fill(w, kSrcGfn, 0x5a);
  fill(w, kDstGfn, 0);
  w.grant_v2(30, GTF_permit_access | GTF_sub_page, kSelf, kDstGfn, 256, 512);
  w.grant_v2(31, GTF_permit_access, kSelf, kSrcGfn);
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_source_gref | GNTCOPY_dest_gref, 31, 30, 512, 0, 256)) == GNTST_okay);
  CHECK(at(w, kDstGfn, 256) == std::byte{0x5a});
  CHECK(at(w, kDstGfn, 767) == std::byte{0x5a});
  CHECK(at(w, kDstGfn, 768) == std::byte{0});
  CHECK(w.status(30) == 0);
  CHECK(w.status(31) == 0);
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_dest_gref, kSrcGfn, 30, 16, 0, 0)) == GNTST_general_error);
  CHECK(w.table.guest_copy(copy_op(GNTCOPY_dest_gref, kSrcGfn, 30, 100, 0, 700)) == GNTST_general_error);
  CHECK(at(w, kDstGfn, 0) == std::byte{0});
}

TEST_CASE("grant_table_op copy: batches, status fields, 32-bit layout, bad pointers", "[gnttab]") {
  GnttabWorld w;
  GnttabGva gva(w.memory);
  self_grants_v1(w);
  fill(w, kSrcGfn, 0x33);
  fill(w, kDstGfn, 0);
  const std::array<gnttab_copy_t, 2> ops{copy_op(GNTCOPY_source_gref, 10, kDstGfn, 8),
                                         copy_op(GNTCOPY_dest_gref, kSrcGfn, 12, 8)};
  REQUIRE(w.memory.write_obj(kOps, ops));
  CHECK(w.table.hypercall(copy_call(2), gva).result == 0);
  CHECK(w.memory.read_obj<std::int16_t>(kOps + offsetof(gnttab_copy_t, status)) == GNTST_okay);
  CHECK(w.memory.read_obj<std::int16_t>(kOps + 40 + offsetof(gnttab_copy_t, status)) == GNTST_general_error);
  CHECK(at(w, kDstGfn, 7) == std::byte{0x33});
  // 32-bit: {ref/gmfn u32, domid, offset} x2, len, flags, status (24 bytes).
  fill(w, kDstGfn, 0);
  struct [[gnu::packed]] Op32 {
    std::uint32_t src;
    std::uint16_t src_dom, src_off;
    std::uint32_t dst;
    std::uint16_t dst_dom, dst_off, len, flags;
    std::int16_t status, pad;
  } op32{10, DOMID_SELF, 0, static_cast<std::uint32_t>(kDstGfn), DOMID_SELF, 4, 8, GNTCOPY_source_gref, 99, 0};
  static_assert(sizeof(Op32) == 24);
  REQUIRE(w.memory.write_obj(kOps, op32));
  CHECK(w.table.hypercall(copy_call(1, false), gva).result == 0);
  CHECK(w.memory.read_obj<std::int16_t>(kOps + 20) == GNTST_okay);
  CHECK(at(w, kDstGfn, 4) == std::byte{0x33});
  CHECK(at(w, kDstGfn, 3) == std::byte{0});
  auto far = copy_call(1);
  far.args[1] = Gpa{1} << 44;
  CHECK(w.table.hypercall(far, gva).result == -XEN_EFAULT);
  CHECK(w.table.hypercall(copy_call(0x80000000u), gva).result == -XEN_EINVAL);
}

namespace {
// Page tables that alias every op slot to the one op at kOps (a hostile guest's endless list).
class AliasedOps final : public GuestVirtual {
 public:
  AliasedOps(GuestMemory& memory, std::uint64_t op_size) : memory_(memory), op_size_(op_size) {}
  bool read(std::uint64_t gva, std::span<std::byte> out) override {
    ++reads;
    return memory_.read(alias(gva), out);
  }
  bool write(std::uint64_t gva, std::span<const std::byte> in) override { return memory_.write(alias(gva), in); }
  std::uint64_t reads = 0;

 private:
  std::uint64_t alias(std::uint64_t gva) const { return kOps + (gva - kOps) % op_size_; }
  GuestMemory& memory_;
  std::uint64_t op_size_;
};
}  // namespace

TEST_CASE("grant_table_op copy does one budget of ops, then continues on the rest", "[gnttab][budget]") {
  GnttabWorld w;
  self_grants_v1(w);
  REQUIRE(w.memory.write_obj(kOps, copy_op(GNTCOPY_source_gref, 10, kDstGfn, 8)));
  AliasedOps gva(w.memory, sizeof(gnttab_copy_t));
  auto call = copy_call(1'000'000);
  call.args[3] = 0x55;  // unused registers travel through the continuation unchanged
  const auto out = w.table.hypercall(call, gva);
  CHECK(gva.reads <= kHypercallWorkBudget);
  REQUIRE(out.action == VcpuAction::restart);
  CHECK(out.restart_args[0] == GNTTABOP_copy);
  CHECK(out.restart_args[1] == kOps + std::uint64_t{kHypercallWorkBudget} * sizeof(gnttab_copy_t));
  CHECK(out.restart_args[2] == 1'000'000 - kHypercallWorkBudget);
  CHECK(out.restart_args[3] == 0x55);
}

TEST_CASE("grant_table_op copy continuations cover the whole list, 32-bit pointers wrap", "[gnttab][budget]") {
  GnttabWorld w;
  self_grants_v1(w);
  fill(w, kSrcGfn, 0x44);
  REQUIRE(w.memory.write_obj(kOps, copy_op(GNTCOPY_source_gref, 10, kDstGfn, 8)));
  AliasedOps gva(w.memory, sizeof(gnttab_copy_t));
  auto call = copy_call(600);
  int invocations = 0;
  for (HypercallOutcome out;; ++invocations) {
    out = w.table.hypercall(call, gva);
    if (out.action != VcpuAction::restart) {
      CHECK(out.result == 0);
      break;
    }
    call.args = out.restart_args;
  }
  CHECK(invocations == 2);
  CHECK(gva.reads == 600);
  CHECK(call.args[2] == 600 - 2 * kHypercallWorkBudget);

  auto call32 = copy_call(1000, false);
  call32.args[1] = 0xffffff00u;  // runs past 4 GiB: the continuation wraps as the guest's registers do
  AliasedOps low(w.memory, 24);
  auto compat = w.table.hypercall(call32, low);
  REQUIRE(compat.action == VcpuAction::restart);
  CHECK(compat.restart_args[1] == ((0xffffff00u + kHypercallWorkBudget * 24ull) & 0xffffffffu));
  CHECK(compat.restart_args[2] == 1000 - kHypercallWorkBudget);
}
