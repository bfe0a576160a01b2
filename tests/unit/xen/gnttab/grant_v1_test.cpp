#include <xen/errno.h>

#include <array>
#include <atomic>
#include <thread>

#include "gnttab_fakes.hpp"

using namespace kxen;
using namespace kxen::test;

TEST_CASE("v1 map read-only then writable sets and clears GTF_reading/GTF_writing", "[gnttab]") {
  GnttabWorld w;
  w.grant_v1(10, GTF_permit_access);
  auto ro = w.table.map(10, false);
  REQUIRE(ro);
  CHECK(ro->data().data() == w.memory.span(kDataGfn << 12, 4096)->data());
  CHECK(ro->data().size() == 4096);
  CHECK(ro->writable_data().empty());
  CHECK(w.flags(10) == (GTF_permit_access | GTF_reading));
  auto rw = w.table.map(10, true);
  REQUIRE(rw);
  CHECK(rw->writable_data().size() == 4096);
  CHECK(w.flags(10) == (GTF_permit_access | GTF_reading | GTF_writing));
  CHECK(w.table.unmap(*rw) == GNTST_okay);
  CHECK(w.flags(10) == (GTF_permit_access | GTF_reading));
  CHECK(w.table.unmap(*rw) == GNTST_bad_handle);
  CHECK(w.table.unmap(*ro) == GNTST_okay);
  CHECK(w.flags(10) == GTF_permit_access);
  CHECK(w.table.unmap(*ro) == GNTST_bad_handle);
}

TEST_CASE("unmapping a read-only mapping twice is caught while a writable one remains", "[gnttab]") {
  GnttabWorld w;
  w.grant_v1(10, GTF_permit_access);
  auto ro = w.table.map(10, false);
  auto rw = w.table.map(10, true);
  REQUIRE(ro);
  REQUIRE(rw);
  CHECK(w.table.unmap(*ro) == GNTST_okay);
  CHECK(w.table.unmap(*ro) == GNTST_bad_handle);
  CHECK(w.flags(10) == (GTF_permit_access | GTF_reading | GTF_writing));
  CHECK(w.table.unmap(*rw) == GNTST_okay);
  CHECK(w.flags(10) == GTF_permit_access);
}

TEST_CASE("v1 map refuses read-only, foreign, unpermitted, out-of-range and bad-frame grants", "[gnttab]") {
  GnttabWorld w;
  w.grant_v1(1, GTF_permit_access | GTF_readonly);
  CHECK(w.table.map(1, true).error() == GNTST_general_error);
  CHECK(w.flags(1) == (GTF_permit_access | GTF_readonly));
  auto ro = w.table.map(1, false);
  REQUIRE(ro);
  CHECK(ro->writable_data().empty());
  CHECK(w.table.map(1, true).error() == GNTST_general_error);  // still read-only while pinned

  w.grant_v1(2, GTF_permit_access, 5);
  CHECK(w.table.map(2, false).error() == GNTST_general_error);
  w.grant_v1(3, GTF_invalid);
  CHECK(w.table.map(3, false).error() == GNTST_general_error);
  w.grant_v1(4, GTF_accept_transfer);
  CHECK(w.table.map(4, false).error() == GNTST_general_error);
  w.grant_v1(5, GTF_permit_access | GTF_sub_page);
  CHECK(w.table.map(5, false).error() == GNTST_general_error);
  CHECK(w.table.map(512, false).error() == GNTST_bad_gntref);   // beyond the table's one frame
  CHECK(w.table.map(~0u, false).error() == GNTST_bad_gntref);

  w.grant_v1(6, GTF_permit_access, 0, 0x100);  // beyond RAM
  CHECK(w.table.map(6, true).error() == GNTST_bad_page);
  CHECK(w.flags(6) == GTF_permit_access);      // flags rolled back
  w.grant_v1(7, GTF_permit_access, 0, kFrameGfn);  // the grant frame itself is not RAM
  CHECK(w.table.map(7, false).error() == GNTST_bad_page);
  CHECK(w.flags(7) == GTF_permit_access);
}

TEST_CASE("grants in a frame the guest has not mapped are unknown", "[gnttab]") {
  GnttabWorld w;
  std::vector<std::uint64_t> gfns;
  REQUIRE(w.table.setup_table(DOMID_SELF, 2, gfns) == GNTST_okay);
  CHECK(w.table.frame_count() == 2);
  CHECK(w.table.map(600, false).error() == GNTST_bad_gntref);
  REQUIRE(w.table.map_frame(1, false, kFrameGfn + 1) == 0);
  w.grant_v1(600, GTF_permit_access);
  CHECK(w.table.map(600, false).has_value());
}

TEST_CASE("a pinned grant keeps its frame even if the guest rewrites the entry", "[gnttab]") {
  GnttabWorld w;
  w.grant_v1(9, GTF_permit_access);
  auto first = w.table.map(9, false);
  REQUIRE(first);
  w.grant_v1(9, GTF_permit_access | GTF_reading, 0, kDataGfn + 1);
  auto second = w.table.map(9, false);
  REQUIRE(second);
  CHECK(second->data().data() == first->data().data());
  CHECK(w.table.unmap(*first) == GNTST_okay);
  CHECK(w.table.unmap(*second) == GNTST_okay);
  CHECK(w.flags(9) == GTF_permit_access);
}

TEST_CASE("grant copy validates bounds and read-only grants", "[gnttab]") {
  GnttabWorld w;
  w.grant_v1(11, GTF_permit_access);
  w.grant_v1(12, GTF_permit_access | GTF_readonly);
  std::array<std::byte, 16> in;
  in.fill(std::byte{0x5a});
  CHECK(w.table.copy_to_grant(11, 4080, in) == GNTST_okay);
  CHECK(w.memory.span((kDataGfn << 12) + 4080, 16)->front() == std::byte{0x5a});
  CHECK(w.flags(11) == GTF_permit_access);
  std::array<std::byte, 16> out{};
  CHECK(w.table.copy_from_grant(12, 4080, out) == GNTST_okay);
  CHECK(out == in);
  CHECK(w.table.copy_to_grant(12, 0, in) == GNTST_general_error);
  CHECK(w.table.copy_to_grant(11, 4081, in) == GNTST_bad_copy_arg);
  CHECK(w.table.copy_from_grant(11, 5000, std::span(out).first(0)) == GNTST_bad_copy_arg);
  CHECK(w.table.copy_from_grant(11, 0xffffffffu, out) == GNTST_bad_copy_arg);
  CHECK(w.table.copy_from_grant(4000, 0, out) == GNTST_bad_gntref);
  CHECK(w.flags(12) == (GTF_permit_access | GTF_readonly));
}

TEST_CASE("a guest rewriting the entry concurrently cannot hang map", "[gnttab][threads]") {
  GnttabWorld w;
  w.grant_v1(20, GTF_permit_access);
  std::atomic<bool> stop{false};
  std::atomic_ref<std::uint32_t> hdr(*reinterpret_cast<std::uint32_t*>(w.entry(20)));
  std::thread hostile([&] {
    while (!stop.load(std::memory_order_relaxed)) hdr.fetch_xor(GTF_PWT | GTF_readonly);
  });
  int mapped = 0, refused = 0;
  for (int i = 0; i < 2000; ++i) {
    auto m = w.table.map(20, true);
    if (!m) {
      CHECK(m.error() == GNTST_general_error);
      ++refused;
      continue;
    }
    ++mapped;
    CHECK(w.table.unmap(*m) == GNTST_okay);
  }
  stop = true;
  hostile.join();
  CHECK(mapped + refused == 2000);
  CHECK((w.flags(20) & (GTF_reading | GTF_writing)) == 0);
}

TEST_CASE("map_frame validates index and placement and keeps contents when moved", "[gnttab]") {
  GnttabWorld w;
  CHECK(w.table.map_frame(4, false, 0x400) == -XEN_EINVAL);  // max_frames is 4
  CHECK(w.table.map_frame(1, false, 0x10) == 0);  // on top of RAM: replaces the page, as Xen does
  CHECK_FALSE(w.memory.is_ram(0x10ull << 12, 4096));
  CHECK(w.table.map_frame(0, true, kStatusGfn) == -XEN_EINVAL);  // no status frames in v1
  CHECK(w.table.map_frame(1, false, ~std::uint64_t{0}) == -XEN_EINVAL);
  w.grant_v1(3, GTF_permit_access, 0, 0x77);
  REQUIRE(w.table.map_frame(0, false, 0x280) == 0);
  CHECK(w.memory.read_obj<grant_entry_v1_t>((0x280ull << 12) + 3 * 8)->frame == 0x77u);
  CHECK(w.table.map_frame(3, false, 0x283) == 0);
  CHECK(w.table.frame_count() == 4);
}
