#include <xen/errno.h>

#include "gnttab_fakes.hpp"

using namespace kxen;
using namespace kxen::test;

namespace {
constexpr Gpa kArg = 0x30000;
constexpr Gpa kList = 0x31000;

HypercallRequest op(std::uint32_t cmd, std::uint32_t count = 1, bool long_mode = true) {
  HypercallRequest r;
  r.nr = __HYPERVISOR_grant_table_op;
  r.long_mode = long_mode;
  r.args = {cmd, kArg, count, 0, 0, 0};
  return r;
}
}  // namespace

TEST_CASE("grant_table_op query_size, set_version, get_version round trip", "[gnttab]") {
  GnttabWorld w;
  GnttabGva gva(w.memory);
  gnttab_query_size q{};
  q.dom = DOMID_SELF;
  REQUIRE(w.memory.write_obj(kArg, q));
  CHECK(w.table.hypercall(op(GNTTABOP_query_size), gva).result == 0);
  CHECK(w.memory.read_obj<gnttab_query_size>(kArg)->max_nr_frames == 4);
  CHECK(w.table.hypercall(op(GNTTABOP_query_size, 2), gva).result == -XEN_EINVAL);
  // A refused switch still reports the current version back (Xen copies the struct out).
  REQUIRE(w.memory.write_obj(kArg, gnttab_set_version{3}));
  CHECK(w.table.hypercall(op(GNTTABOP_set_version), gva).result == -XEN_EINVAL);
  CHECK(w.memory.read_obj<gnttab_set_version>(kArg)->version == 1);
  REQUIRE(w.memory.write_obj(kArg, gnttab_set_version{2}));
  CHECK(w.table.hypercall(op(GNTTABOP_set_version), gva).result == 0);
  CHECK(w.memory.read_obj<gnttab_set_version>(kArg)->version == 2);
  REQUIRE(w.memory.write_obj(kArg, gnttab_get_version{DOMID_SELF, 0, 0}));
  CHECK(w.table.hypercall(op(GNTTABOP_get_version), gva).result == 0);
  CHECK(w.memory.read_obj<gnttab_get_version>(kArg)->version == 2);
}

TEST_CASE("grant_table_op setup_table in 64-bit and 32-bit layouts", "[gnttab]") {
  GnttabWorld w;
  GnttabGva gva(w.memory);
  gnttab_setup_table st{};
  st.dom = DOMID_SELF;
  st.nr_frames = 2;
  st.status = 99;
  REQUIRE(w.memory.write_obj(kArg, st));
  REQUIRE(w.memory.write_obj<std::uint64_t>(kArg + 16, kList));
  CHECK(w.table.hypercall(op(GNTTABOP_setup_table), gva).result == 0);
  CHECK(w.memory.read_obj<std::int16_t>(kArg + 8) == GNTST_okay);
  CHECK(w.memory.read_obj<std::uint64_t>(kList) == kFrameGfn);
  CHECK(w.memory.read_obj<std::uint64_t>(kList + 8) == ~std::uint64_t{0});

  // 32-bit: dom@0 nr_frames@4 status@8 frame_list@12 (4 bytes), 4-byte gfns.
  std::array<std::uint32_t, 4> compat{DOMID_SELF, 1, 99, static_cast<std::uint32_t>(kList + 0x100)};
  REQUIRE(w.memory.write_obj(kArg, compat));
  CHECK(w.table.hypercall(op(GNTTABOP_setup_table, 1, false), gva).result == 0);
  CHECK(w.memory.read_obj<std::int16_t>(kArg + 8) == GNTST_okay);
  CHECK(w.memory.read_obj<std::uint32_t>(kList + 0x100) == kFrameGfn);
  CHECK(w.memory.read_obj<std::uint32_t>(kList + 0x104) == 0u);  // untouched: only one frame asked
}

TEST_CASE("grant_table_op errors: bad pointers, bad frame list, unknown ops", "[gnttab]") {
  GnttabWorld w;
  GnttabGva gva(w.memory);
  auto far = op(GNTTABOP_query_size);
  far.args[1] = Gpa{1} << 44;
  CHECK(w.table.hypercall(far, gva).result == -XEN_EFAULT);
  gnttab_setup_table st{};
  st.dom = DOMID_SELF;
  st.nr_frames = 1;
  REQUIRE(w.memory.write_obj(kArg, st));
  REQUIRE(w.memory.write_obj<std::uint64_t>(kArg + 16, Gpa{1} << 44));
  CHECK(w.table.hypercall(op(GNTTABOP_setup_table), gva).result == 0);
  CHECK(w.memory.read_obj<std::int16_t>(kArg + 8) == GNTST_bad_virt_addr);
  CHECK(w.table.hypercall(op(GNTTABOP_map_grant_ref), gva).result == -XEN_ENOSYS);
  CHECK(w.table.hypercall(op(GNTTABOP_transfer), gva).result == -XEN_ENOSYS);
  auto huge = op(GNTTABOP_setup_table);
  huge.args[2] = std::uint64_t{1} << 33;
  CHECK(w.table.hypercall(huge, gva).result == -XEN_EINVAL);
  // get_status_frames in v2.
  w.to_v2();
  gnttab_get_status_frames gs{};
  gs.nr_frames = 1;
  gs.dom = DOMID_SELF;
  REQUIRE(w.memory.write_obj(kArg, gs));
  REQUIRE(w.memory.write_obj<std::uint64_t>(kArg + 8, kList));
  CHECK(w.table.hypercall(op(GNTTABOP_get_status_frames), gva).result == 0);
  CHECK(w.memory.read_obj<std::int16_t>(kArg + 6) == GNTST_okay);
  CHECK(w.memory.read_obj<std::uint64_t>(kList) == kStatusGfn);
}
