// memory_op: add_to_physmap (shared_info, grant table), memory_map, reservations, maximum_gpfn.
#include "platform_fakes.hpp"

#include <algorithm>
#include <cstring>

namespace kxen::test {
namespace {

constexpr std::uint32_t kE820Size = 20;  // packed e820 entry: addr, size, type

// Writes the 32-bit caller's xen_add_to_physmap: domid, size, space, idx, gpfn (16 bytes).
void write_physmap32(GuestMemory& m, domid_t domid, std::uint32_t space, std::uint32_t idx, std::uint32_t gpfn) {
  REQUIRE(m.write_obj(kArg, domid));
  REQUIRE(m.write_obj(kArg + 2, std::uint16_t{0}));
  REQUIRE(m.write_obj(kArg + 4, space));
  REQUIRE(m.write_obj(kArg + 8, idx));
  REQUIRE(m.write_obj(kArg + 12, gpfn));
}

bool all_masked(const shared_info& s) {
  return std::all_of(std::begin(s.evtchn_mask), std::end(s.evtchn_mask), [](xen_ulong_t w) { return w == ~xen_ulong_t{0}; });
}

}  // namespace

TEST_CASE("shared_info placed on a RAM page is cleared, masked and told to KVM", "[platform]") {
  PlatformWorld w;
  const Gpa gpa = kShinfoPfn << kPageShift;
  std::vector<std::byte> junk(kPageSize, std::byte{0xaa});
  REQUIRE(w.memory.write(gpa, junk));
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  REQUIRE(w.platform->shared_info_gpa() == gpa);
  CHECK(w.memory.is_ram(gpa, kPageSize));
  CHECK(all_masked(w.shinfo()));
  CHECK(w.shinfo().evtchn_pending[3] == 0);
  CHECK(w.shinfo().vcpu_info[0].evtchn_upcall_pending == 0);
  CHECK(w.accel.long_mode == std::vector<bool>{true});
  CHECK(w.accel.shared_info == std::vector<Gpa>{gpa});
  CHECK(w.platform->shared_info_64bit());
  // Until they register their own, KVM is pointed at each vCPU's legacy slot.
  const Gpa slots = gpa + offsetof(shared_info, vcpu_info);
  CHECK(w.accel.vcpu_info == std::vector<RecordingAccel::Pair>{{0, slots}, {1, slots + sizeof(vcpu_info)}});
}

TEST_CASE("shared_info placed in a hole becomes an overlay page", "[platform]") {
  PlatformWorld w(false);
  const Gpa gpa = kHolePfn << kPageShift;
  REQUIRE_FALSE(w.memory.span(gpa, kPageSize));
  REQUIRE(w.map_shared_info(kHolePfn, kDomid) == 0);
  CHECK(w.platform->shared_info_gpa() == gpa);
  CHECK(w.memory.span(gpa, kPageSize));
  CHECK_FALSE(w.memory.is_ram(gpa, kPageSize));
  CHECK(all_masked(w.shinfo()));
  CHECK(w.accel.shared_info.empty());
}

TEST_CASE("add_to_physmap rejects bad pointers, foreign domains and bad frames", "[platform]") {
  PlatformWorld w;
  CHECK(w.memory_op(XENMEM_add_to_physmap, kBadPointer) == -XEN_EFAULT);
  CHECK(w.memory_op(XENMEM_add_to_physmap, kBadPointer, false) == -XEN_EFAULT);
  CHECK(w.map_shared_info(kShinfoPfn, kDomid + 1) == -XEN_ESRCH);
  CHECK(w.map_shared_info(0) == -XEN_EINVAL);
  CHECK(w.map_shared_info(1ull << 40) == -XEN_EINVAL);
  CHECK(w.map_shared_info(kShinfoPfn, DOMID_SELF, 1) == -XEN_EINVAL);
  xen_add_to_physmap op{};
  op.domid = DOMID_SELF;
  op.space = XENMAPSPACE_gmfn;
  op.gpfn = kShinfoPfn;
  REQUIRE(w.memory.write_obj(kArg, op));
  CHECK(w.memory_op(XENMEM_add_to_physmap, kArg) == -XEN_EINVAL);
  CHECK_FALSE(w.platform->shared_info_gpa());
  CHECK(w.accel.shared_info.empty());
}

TEST_CASE("add_to_physmap fails when KVM refuses the shared_info page", "[platform]") {
  PlatformWorld w;
  w.accel.ok = false;
  CHECK(w.map_shared_info(kShinfoPfn) == -XEN_EINVAL);
  CHECK(w.accel.long_mode.size() + w.accel.shared_info.size() >= 1);
}

TEST_CASE("add_to_physmap from a 32-bit caller uses the 16-byte layout", "[platform]") {
  PlatformWorld w;
  write_physmap32(w.memory, DOMID_SELF, XENMAPSPACE_shared_info, 0, kShinfoPfn);
  // Bytes a 64-bit decode would take as the upper half of idx: must be ignored.
  REQUIRE(w.memory.write_obj(kArg + 16, std::uint64_t{0xdeadbeef}));
  REQUIRE(w.memory_op(XENMEM_add_to_physmap, kArg, false) == 0);
  CHECK(w.platform->shared_info_gpa() == (kShinfoPfn << kPageShift));
  CHECK_FALSE(w.platform->shared_info_64bit());  // a 32-bit caller latches the 32-bit layout
  CHECK(w.accel.long_mode == std::vector<bool>{false});

  write_physmap32(w.memory, kDomid + 1, XENMAPSPACE_shared_info, 0, kShinfoPfn);
  CHECK(w.memory_op(XENMEM_add_to_physmap, kArg, false) == -XEN_ESRCH);
  write_physmap32(w.memory, kDomid, XENMAPSPACE_shared_info, 1, kShinfoPfn);
  CHECK(w.memory_op(XENMEM_add_to_physmap, kArg, false) == -XEN_EINVAL);
}

TEST_CASE("add_to_physmap maps grant-table frames as overlays", "[platform]") {
  PlatformWorld w;
  xen_add_to_physmap op{};
  op.domid = DOMID_SELF;
  op.space = XENMAPSPACE_grant_table;
  op.idx = 0;
  op.gpfn = kHolePfn + 1;
  REQUIRE(w.memory.write_obj(kArg, op));
  CHECK(w.memory_op(XENMEM_add_to_physmap, kArg) == 0);
  CHECK(w.memory.span((kHolePfn + 1) << kPageShift, kPageSize));
  // Status frames exist only with grant table v2.
  op.idx = XENMAPIDX_grant_table_status;
  REQUIRE(w.memory.write_obj(kArg, op));
  CHECK(w.memory_op(XENMEM_add_to_physmap, kArg) == -XEN_EINVAL);
}

TEST_CASE("memory_map copies min(capacity, entries) e820 entries", "[platform]") {
  PlatformWorld w;
  xen_memory_map map{};
  set_xen_guest_handle(map.buffer, reinterpret_cast<void*>(kBuf));
  std::vector<std::byte> fill(kPageSize, std::byte{0xee});
  REQUIRE(w.memory.write(kBuf, fill));

  map.nr_entries = 2;
  REQUIRE(w.memory.write_obj(kArg, map));
  REQUIRE(w.memory_op(XENMEM_memory_map, kArg) == 0);
  CHECK(w.memory.read_obj<std::uint32_t>(kArg) == 2u);
  CHECK(w.memory.read_obj<std::uint64_t>(kBuf + kE820Size) == 0x100000u);
  CHECK(w.memory.read_obj<std::uint64_t>(kBuf + kE820Size + 8) == 0x300000u);
  CHECK(w.memory.read_obj<std::uint32_t>(kBuf + kE820Size + 16) == 1u);
  CHECK(w.memory.read_obj<std::uint8_t>(kBuf + 2 * kE820Size) == 0xeeu);  // third slot untouched

  map.nr_entries = 16;
  REQUIRE(w.memory.write_obj(kArg, map));
  REQUIRE(w.memory_op(XENMEM_memory_map, kArg) == 0);
  CHECK(w.memory.read_obj<std::uint32_t>(kArg) == 3u);
  CHECK(w.memory.read_obj<std::uint64_t>(kBuf + 2 * kE820Size) == 0xfee00000u);
  CHECK(w.memory.read_obj<std::uint32_t>(kBuf + 2 * kE820Size + 16) == 2u);
  CHECK(w.memory.read_obj<std::uint8_t>(kBuf + 3 * kE820Size) == 0xeeu);

  map.nr_entries = 0;
  REQUIRE(w.memory.write_obj(kArg, map));
  REQUIRE(w.memory_op(XENMEM_memory_map, kArg) == 0);
  CHECK(w.memory.read_obj<std::uint32_t>(kArg) == 0u);
}

TEST_CASE("memory_map from a 32-bit caller reads a 4-byte buffer pointer", "[platform]") {
  PlatformWorld w;
  REQUIRE(w.memory.write_obj(kArg, std::uint32_t{1}));
  REQUIRE(w.memory.write_obj(kArg + 4, static_cast<std::uint32_t>(kBuf)));
  REQUIRE(w.memory.write_obj(kArg + 8, std::uint32_t{0x7777}));  // not part of the 32-bit struct
  REQUIRE(w.memory_op(XENMEM_memory_map, kArg, false) == 0);
  CHECK(w.memory.read_obj<std::uint32_t>(kArg) == 1u);
  CHECK(w.memory.read_obj<std::uint64_t>(kBuf) == 0u);
  CHECK(w.memory.read_obj<std::uint64_t>(kBuf + 8) == 0x9f000u);
  CHECK(w.memory.read_obj<std::uint32_t>(kBuf + 16) == 1u);
  CHECK(w.memory.read_obj<std::uint32_t>(kArg + 8) == 0x7777u);
}

TEST_CASE("memory_map faults on bad struct or buffer pointers", "[platform]") {
  PlatformWorld w;
  CHECK(w.memory_op(XENMEM_memory_map, kBadPointer) == -XEN_EFAULT);
  CHECK(w.memory_op(XENMEM_memory_map, kBadPointer, false) == -XEN_EFAULT);
  xen_memory_map map{};
  map.nr_entries = 3;
  set_xen_guest_handle(map.buffer, reinterpret_cast<void*>(kBadPointer));
  REQUIRE(w.memory.write_obj(kArg, map));
  CHECK(w.memory_op(XENMEM_memory_map, kArg) == -XEN_EFAULT);
  // A buffer that runs off the end of RAM faults part-way.
  set_xen_guest_handle(map.buffer, reinterpret_cast<void*>(kRamTop - kE820Size));
  REQUIRE(w.memory.write_obj(kArg, map));
  CHECK(w.memory_op(XENMEM_memory_map, kArg) == -XEN_EFAULT);
}

TEST_CASE("reservations report RAM pages for the guest itself only", "[platform]") {
  PlatformWorld w;
  for (auto cmd : {XENMEM_current_reservation, XENMEM_maximum_reservation}) {
    REQUIRE(w.memory.write_obj(kArg, domid_t{DOMID_SELF}));
    CHECK(w.memory_op(cmd, kArg) == kRamTop / kPageSize);
    REQUIRE(w.memory.write_obj(kArg, domid_t{kDomid}));
    CHECK(w.memory_op(cmd, kArg) == kRamTop / kPageSize);
    REQUIRE(w.memory.write_obj(kArg, domid_t{0}));
    CHECK(w.memory_op(cmd, kArg) == -XEN_ESRCH);
    CHECK(w.memory_op(cmd, kBadPointer) == -XEN_EFAULT);
  }
}

TEST_CASE("maximum_gpfn, continuation bits and unknown memory ops", "[platform]") {
  PlatformWorld w;
  CHECK(w.memory_op(XENMEM_maximum_gpfn, kArg) == 0xfee00);
  // Bits above the sub-op are Xen's continuation extent: the sub-op is still decoded.
  REQUIRE(w.memory.write_obj(kArg, domid_t{DOMID_SELF}));
  CHECK(w.memory_op(XENMEM_current_reservation | (5u << 6), kArg) == kRamTop / kPageSize);
  CHECK(w.memory_op(XENMEM_exchange, kArg) == -XEN_ENOSYS);
  CHECK(w.memory_op(63, kArg) == -XEN_ENOSYS);
}


namespace {
void write_e820(GuestMemory& m, std::uint64_t at, std::uint64_t addr, std::uint64_t size, std::uint32_t type) {
  REQUIRE(m.write_obj(at, addr));
  REQUIRE(m.write_obj(at + 8, size));
  REQUIRE(m.write_obj(at + 16, type));
}
}  // namespace

TEST_CASE("set_memory_map replaces what memory_map reports, not what kxen treats as RAM", "[platform]") {
  PlatformWorld w;
  write_e820(w.memory, kBuf, 0, 0x9f000, 1);
  write_e820(w.memory, kBuf + kE820Size, 0x100000, 0x100000, 2);
  xen_foreign_memory_map set{};
  set.domid = DOMID_SELF;
  set.map.nr_entries = 2;
  set_xen_guest_handle(set.map.buffer, reinterpret_cast<void*>(kBuf));
  REQUIRE(w.memory.write_obj(kArg, set));
  REQUIRE(w.memory_op(XENMEM_set_memory_map, kArg) == 0);

  constexpr Gpa kOut = kBuf + 0x400;
  xen_memory_map get{};
  get.nr_entries = 8;
  set_xen_guest_handle(get.buffer, reinterpret_cast<void*>(kOut));
  REQUIRE(w.memory.write_obj(kArg, get));
  REQUIRE(w.memory_op(XENMEM_memory_map, kArg) == 0);
  CHECK(w.memory.read_obj<std::uint32_t>(kArg) == 2u);
  CHECK(w.memory.read_obj<std::uint64_t>(kOut + kE820Size + 8) == 0x100000u);
  CHECK(w.memory.read_obj<std::uint32_t>(kOut + kE820Size + 16) == 2u);
  // The balloon still sees the boot map's RAM at 1 MiB.
  CHECK(w.platform->config().memory_map[1].type == 1u);

  // An empty map: memory_map then answers as Xen does for a domain without one.
  set.map.nr_entries = 0;
  REQUIRE(w.memory.write_obj(kArg, set));
  REQUIRE(w.memory_op(XENMEM_set_memory_map, kArg) == 0);
  REQUIRE(w.memory.write_obj(kArg, get));
  CHECK(w.memory_op(XENMEM_memory_map, kArg) == -XEN_ENOSYS);
}

TEST_CASE("set_memory_map checks its caller's domain, size and pointers; 32-bit layout too", "[platform]") {
  PlatformWorld w;
  write_e820(w.memory, kBuf, 0x1000, 0x2000, 1);
  xen_foreign_memory_map set{};
  set.domid = kDomid + 1;
  set.map.nr_entries = 1;
  set_xen_guest_handle(set.map.buffer, reinterpret_cast<void*>(kBuf));
  REQUIRE(w.memory.write_obj(kArg, set));
  CHECK(w.memory_op(XENMEM_set_memory_map, kArg) == -XEN_ESRCH);
  set.domid = DOMID_SELF;
  set.map.nr_entries = 1025;
  REQUIRE(w.memory.write_obj(kArg, set));
  CHECK(w.memory_op(XENMEM_set_memory_map, kArg) == -XEN_EINVAL);
  set.map.nr_entries = 3;
  set_xen_guest_handle(set.map.buffer, reinterpret_cast<void*>(kBadPointer));
  REQUIRE(w.memory.write_obj(kArg, set));
  CHECK(w.memory_op(XENMEM_set_memory_map, kArg) == -XEN_EFAULT);
  CHECK(w.memory_op(XENMEM_set_memory_map, kBadPointer) == -XEN_EFAULT);

  // 32-bit: domid, pad, nr_entries, 4-byte buffer pointer.
  REQUIRE(w.memory.write_obj(kArg, std::uint16_t{DOMID_SELF}));
  REQUIRE(w.memory.write_obj(kArg + 4, std::uint32_t{1}));
  REQUIRE(w.memory.write_obj(kArg + 8, static_cast<std::uint32_t>(kBuf)));
  REQUIRE(w.memory_op(XENMEM_set_memory_map, kArg, false) == 0);
  REQUIRE(w.memory.write_obj(kArg, std::uint32_t{4}));
  REQUIRE(w.memory.write_obj(kArg + 4, static_cast<std::uint32_t>(kBuf + 0x400)));
  REQUIRE(w.memory_op(XENMEM_memory_map, kArg, false) == 0);
  CHECK(w.memory.read_obj<std::uint32_t>(kArg) == 1u);
  CHECK(w.memory.read_obj<std::uint64_t>(kBuf + 0x400) == 0x1000u);
  CHECK(w.memory.read_obj<std::uint64_t>(kBuf + 0x408) == 0x2000u);
}

}  // namespace kxen::test
