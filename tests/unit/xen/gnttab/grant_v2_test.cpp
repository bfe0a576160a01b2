#include <xen/errno.h>

#include <array>

#include "gnttab_fakes.hpp"

using namespace kxen;
using namespace kxen::test;

TEST_CASE("set_version rules", "[gnttab]") {
  GnttabWorld w;
  gnttab_set_version bad{3};
  CHECK(w.table.set_version(bad) == -XEN_EINVAL);
  CHECK(bad.version == 1);
  gnttab_set_version same{1};
  CHECK(w.table.set_version(same) == 0);
  w.grant_v1(100, GTF_permit_access);
  auto m = w.table.map(100, false);
  REQUIRE(m);
  gnttab_set_version two{2};
  CHECK(w.table.set_version(two) == -XEN_EBUSY);
  CHECK(w.table.version() == 1);
  CHECK(two.version == 1);  // Xen reports the current version back
  REQUIRE(w.table.unmap(*m) == GNTST_okay);
  two.version = 2;
  CHECK(w.table.set_version(two) == 0);
  CHECK(two.version == 2);
  gnttab_get_version gv{DOMID_SELF, 0, 0};
  CHECK(w.table.get_version(gv) == 0);
  CHECK(gv.version == 2);
  gnttab_get_version other{0, 0, 0};
  CHECK(w.table.get_version(other) == -XEN_EPERM);
  gnttab_get_version unknown{9, 0, 0};
  CHECK(w.table.get_version(unknown) == -XEN_ESRCH);
}

TEST_CASE("version switch keeps reserved entries and clears the rest", "[gnttab]") {
  GnttabWorld w;
  w.grant_v1(GNTTAB_RESERVED_XENSTORE, GTF_permit_access, 0, 0xfeed);
  w.grant_v1(100, GTF_permit_access);
  w.to_v2();
  grant_entry_v2_t e;
  std::memcpy(&e, w.entry(GNTTAB_RESERVED_XENSTORE), sizeof e);
  CHECK(e.full_page.hdr.flags == GTF_permit_access);
  CHECK(e.full_page.frame == 0xfeedu);
  CHECK(w.header(100) == 0);
  gnttab_set_version one{1};
  REQUIRE(w.table.set_version(one) == 0);
  grant_entry_v1_t v1;
  std::memcpy(&v1, w.entry(GNTTAB_RESERVED_XENSTORE), sizeof v1);
  CHECK(v1.frame == 0xfeedu);
  CHECK(v1.flags == GTF_permit_access);
}

TEST_CASE("v2 map uses the status frame for reading/writing", "[gnttab]") {
  GnttabWorld w;
  w.to_v2();
  CHECK(w.table.status_frame_count() == 1);
  w.grant_v2(20, GTF_permit_access);
  auto rw = w.table.map(20, true);
  REQUIRE(rw);
  CHECK(rw->writable_data().data() == w.memory.span(kDataGfn << 12, 4096)->data());
  CHECK(w.status(20) == (GTF_reading | GTF_writing));
  CHECK(w.flags(20) == GTF_permit_access);  // the header is never written in v2
  CHECK(w.table.unmap(*rw) == GNTST_okay);
  CHECK(w.status(20) == 0);

  w.grant_v2(21, GTF_permit_access | GTF_readonly);
  CHECK(w.table.map(21, true).error() == GNTST_general_error);
  CHECK(w.status(21) == 0);
  auto ro = w.table.map(21, false);
  REQUIRE(ro);
  CHECK(ro->writable_data().empty());
  CHECK(w.status(21) == GTF_reading);

  w.grant_v2(22, GTF_permit_access, 3);
  CHECK(w.table.map(22, false).error() == GNTST_general_error);
  CHECK(w.status(22) == 0);
  w.grant_v2(23, GTF_transitive);
  CHECK(w.table.map(23, false).error() == GNTST_general_error);
  CHECK(w.table.map(256, false).error() == GNTST_bad_gntref);  // v2: 256 entries per frame
}

TEST_CASE("v2 map without a mapped status frame is refused", "[gnttab]") {
  GnttabWorld w;
  gnttab_set_version two{2};
  REQUIRE(w.table.set_version(two) == 0);
  w.grant_v2(30, GTF_permit_access);
  CHECK(w.table.map(30, false).error() == GNTST_general_error);
}

TEST_CASE("v2 sub-page grants: copy inside the window only, never mapped", "[gnttab]") {
  GnttabWorld w;
  w.to_v2();
  w.grant_v2(40, GTF_permit_access | GTF_sub_page, 0, kDataGfn, 100, 50);
  CHECK(w.table.map(40, false).error() == GNTST_general_error);
  std::array<std::byte, 50> buf{};
  buf.fill(std::byte{7});
  CHECK(w.table.copy_to_grant(40, 100, buf) == GNTST_okay);
  CHECK(w.memory.span((kDataGfn << 12) + 149, 1)->front() == std::byte{7});
  CHECK(w.table.copy_to_grant(40, 101, buf) == GNTST_general_error);
  CHECK(w.table.copy_from_grant(40, 99, std::span(buf).first(10)) == GNTST_general_error);
  CHECK(w.status(40) == 0);
  w.grant_v2(41, GTF_permit_access | GTF_sub_page, 0, kDataGfn, 4000, 200);  // window past the page
  CHECK(w.table.copy_from_grant(41, 4000, std::span(buf).first(10)) == GNTST_bad_page);
  CHECK(w.status(41) == 0);
}

TEST_CASE("query_size, setup_table and get_status_frames", "[gnttab]") {
  GnttabWorld w;
  gnttab_query_size q{};
  q.dom = DOMID_SELF;
  CHECK(w.table.query_size(q) == 0);
  CHECK(q.status == GNTST_okay);
  CHECK(q.nr_frames == 1);
  CHECK(q.max_nr_frames == 4);
  q.dom = 0;
  CHECK(w.table.query_size(q) == 0);
  CHECK(q.status == GNTST_permission_denied);
  std::vector<std::uint64_t> gfns;
  CHECK(w.table.setup_table(DOMID_SELF, 5, gfns) == GNTST_general_error);
  CHECK(w.table.setup_table(42, 1, gfns) == GNTST_bad_domain);
  REQUIRE(w.table.setup_table(1, 2, gfns) == GNTST_okay);
  CHECK(gfns == std::vector<std::uint64_t>{kFrameGfn, ~std::uint64_t{0}});
  CHECK(w.table.get_status_frames(DOMID_SELF, 1, gfns) == GNTST_general_error);  // v1
  w.to_v2();
  REQUIRE(w.table.get_status_frames(DOMID_SELF, 1, gfns) == GNTST_okay);
  CHECK(gfns == std::vector<std::uint64_t>{kStatusGfn});
  CHECK(w.table.get_status_frames(DOMID_SELF, 2, gfns) == GNTST_general_error);
}
