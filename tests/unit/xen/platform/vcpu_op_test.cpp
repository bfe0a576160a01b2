// vcpu_op: vcpu_info placement (with legacy carry-over), runstate/time areas, is_up, timers.
#include "platform_fakes.hpp"

namespace kxen::test {
namespace {

constexpr std::uint64_t kInfoPfn = 0x30;

std::int64_t register_info(PlatformWorld& w, std::uint32_t vcpu, std::uint64_t mfn, std::uint32_t offset) {
  return w.vcpu_op_with(VCPUOP_register_vcpu_info, vcpu, vcpu_register_vcpu_info{mfn, offset, 0});
}

}  // namespace

TEST_CASE("register_vcpu_info moves vcpu_info and tells KVM", "[platform]") {
  PlatformWorld w;
  REQUIRE(register_info(w, 1, kInfoPfn, 0x40) == 0);
  const Gpa gpa = (kInfoPfn << kPageShift) + 0x40;
  CHECK(w.platform->vcpu_info_gpa(1) == gpa);
  CHECK(w.accel.vcpu_info == std::vector<RecordingAccel::Pair>{{1, gpa}});
  CHECK_FALSE(w.platform->vcpu_info_gpa(0));  // no shared_info yet: no legacy slot either
  // The last offset that keeps all 64 bytes in the page.
  REQUIRE(register_info(w, 0, kInfoPfn, kPageSize - sizeof(vcpu_info)) == 0);
  CHECK(w.platform->vcpu_info_gpa(0) == (kInfoPfn << kPageShift) + kPageSize - sizeof(vcpu_info));
}

TEST_CASE("vcpu_info_gpa falls back to the legacy slot until registration", "[platform]") {
  PlatformWorld w(false, 3);
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  const Gpa slots = (kShinfoPfn << kPageShift) + offsetof(shared_info, vcpu_info);
  CHECK(w.platform->vcpu_info_gpa(2) == slots + 2 * sizeof(vcpu_info));
  CHECK_FALSE(w.platform->vcpu_info_gpa(3));
  REQUIRE(register_info(w, 2, kInfoPfn, 0) == 0);
  CHECK(w.platform->vcpu_info_gpa(2) == (kInfoPfn << kPageShift));
}

TEST_CASE("register_vcpu_info carries over the legacy slot's contents", "[platform]") {
  PlatformWorld w;
  REQUIRE(w.map_shared_info(kShinfoPfn) == 0);
  w.shinfo().vcpu_info[1].evtchn_upcall_pending = 1;
  w.shinfo().vcpu_info[1].evtchn_pending_sel = 0x5;
  w.shinfo().vcpu_info[1].time.version = 42;
  w.shinfo().vcpu_info[1].time.system_time = 0x123456789;
  REQUIRE(register_info(w, 1, kInfoPfn, 0x80) == 0);
  auto moved = w.memory.read_obj<vcpu_info>((kInfoPfn << kPageShift) + 0x80);
  REQUIRE(moved);
  CHECK(moved->evtchn_upcall_pending == 1);
  CHECK(moved->evtchn_pending_sel == 0x5u);
  CHECK(moved->time.version == 42u);
  CHECK(moved->time.system_time == 0x123456789u);
}

TEST_CASE("register_vcpu_info rejects misplaced areas and a second registration", "[platform]") {
  PlatformWorld w;
  CHECK(register_info(w, 0, kInfoPfn, kPageSize - sizeof(vcpu_info) + 8) == -XEN_EINVAL);  // crosses the page
  CHECK(register_info(w, 0, kInfoPfn, kPageSize) == -XEN_EINVAL);
  CHECK(register_info(w, 0, kInfoPfn, 0x44) == -XEN_EINVAL);                               // unaligned
  CHECK(register_info(w, 0, kHolePfn, 0) == -XEN_EINVAL);                                  // not RAM
  CHECK(register_info(w, 0, ~std::uint64_t{0}, 0) == -XEN_EINVAL);                         // overflows
  CHECK(register_info(w, 0, (kRamTop >> kPageShift) - 1, kPageSize - sizeof(vcpu_info)) == 0);
  CHECK(register_info(w, 0, kInfoPfn, 0) == -XEN_EINVAL);                                  // twice
  CHECK(w.accel.vcpu_info.size() == 1);
  CHECK(w.vcpu_op(VCPUOP_register_vcpu_info, 1, kBadPointer) == -XEN_EFAULT);
  CHECK(register_info(w, 2, kInfoPfn, 0) == -XEN_ENOENT);
}

TEST_CASE("register_vcpu_info refused by KVM is an error", "[platform]") {
  PlatformWorld w;
  w.accel.ok = false;
  CHECK(register_info(w, 0, kInfoPfn, 0) == -XEN_EINVAL);
}

TEST_CASE("runstate and time areas are translated and handed to KVM", "[platform]") {
  PlatformWorld w;
  w.gva.shift = 0x3000;  // gva kBuf lives at gpa kBuf + 0x3000
  REQUIRE(w.memory.write_obj(kArg, std::uint64_t{kBuf}));
  CHECK(w.vcpu_op(VCPUOP_register_runstate_memory_area, 1, kArg) == 0);
  CHECK(w.accel.runstate == std::vector<RecordingAccel::Pair>{{1, kBuf + 0x3000}});
  CHECK(w.vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, kArg) == 0);
  CHECK(w.accel.time_info == std::vector<RecordingAccel::Pair>{{0, kBuf + 0x3000}});
  REQUIRE_FALSE(w.gva.translations.empty());
  CHECK(w.gva.translations.back() == std::pair<std::uint64_t, bool>{kBuf, true});
}

TEST_CASE("a 32-bit caller registers an area with a 4-byte pointer", "[platform]") {
  PlatformWorld w;
  REQUIRE(w.memory.write_obj(kArg, std::uint64_t{0xdead0000'00000000ull | kBuf}));
  CHECK(w.vcpu_op(VCPUOP_register_runstate_memory_area, 0, kArg, false) == 0);
  CHECK(w.accel.runstate == std::vector<RecordingAccel::Pair>{{0, kBuf}});
  // The same bytes read as a 64-bit pointer do not translate to RAM.
  CHECK(w.vcpu_op(VCPUOP_register_runstate_memory_area, 0, kArg, true) == -XEN_EFAULT);
}

TEST_CASE("area registration errors", "[platform]") {
  PlatformWorld w;
  for (auto cmd : {VCPUOP_register_runstate_memory_area, VCPUOP_register_vcpu_time_memory_area}) {
    CHECK(w.vcpu_op(cmd, 0, kBadPointer) == -XEN_EFAULT);
    REQUIRE(w.memory.write_obj(kArg, std::uint64_t{kBuf}));
    CHECK(w.vcpu_op(cmd, 2, kArg) == -XEN_ENOENT);
    w.gva.unmapped = true;
    CHECK(w.vcpu_op(cmd, 0, kArg) == -XEN_EFAULT);
    w.gva.unmapped = false;
    REQUIRE(w.memory.write_obj(kArg, std::uint64_t{kRamTop - 8}));  // runs off the end of RAM
    CHECK(w.vcpu_op(cmd, 0, kArg) == -XEN_EFAULT);
    REQUIRE(w.memory.write_obj(kArg, std::uint64_t{kBuf}));
    w.accel.ok = false;
    CHECK(w.vcpu_op(cmd, 0, kArg) == -XEN_EINVAL);
    w.accel.ok = true;
  }
}

TEST_CASE("an area crossing a page is translated page by page, never written past its pages", "[platform]") {
  for (const bool with_accel : {true, false}) {
    PlatformWorld w(with_accel);
    const std::uint64_t straddling = kBuf + kPageSize - 16;  // 16 bytes in one page, the rest in the next
    REQUIRE(w.memory.write_obj(kArg, straddling));
    for (auto cmd : {VCPUOP_register_runstate_memory_area, VCPUOP_register_vcpu_time_memory_area}) {
      // Physically next: one guest-physical area, as KVM and Runstates keep it.
      w.gva.translations.clear();
      CHECK(w.vcpu_op(cmd, 0, kArg) == 0);
      CHECK(w.gva.translations == std::vector<std::pair<std::uint64_t, bool>>{{straddling, true},
                                                                              {kBuf + kPageSize, true}});
      // The next virtual page lives elsewhere, or nowhere: refused.
      w.gva.remapped[kBuf + kPageSize] = Gpa{0x50000};
      CHECK(w.vcpu_op(cmd, 0, kArg) == -XEN_EINVAL);
      w.gva.remapped[kBuf + kPageSize] = std::nullopt;
      CHECK(w.vcpu_op(cmd, 0, kArg) == -XEN_EFAULT);
      w.gva.remapped.clear();
    }
    if (with_accel) {
      CHECK(w.accel.runstate == std::vector<RecordingAccel::Pair>{{0, straddling}});
      CHECK(w.accel.time_info == std::vector<RecordingAccel::Pair>{{0, straddling}});
    }
  }
}

TEST_CASE("is_up, timer stops and unknown vcpu ops", "[platform]") {
  PlatformWorld w;
  CHECK(w.vcpu_op(VCPUOP_is_up, 1, 0) == 1);
  CHECK(w.vcpu_op(VCPUOP_is_up, 2, 0) == -XEN_ENOENT);
  CHECK(w.vcpu_op(VCPUOP_is_up, ~std::uint64_t{0}, 0) == -XEN_ENOENT);
  CHECK(w.vcpu_op(VCPUOP_stop_periodic_timer, 1, 0) == 0);
  CHECK(w.vcpu_op(VCPUOP_stop_singleshot_timer, 0, 0) == 0);
  CHECK(w.vcpu_op(VCPUOP_stop_singleshot_timer, 1, 0) == -XEN_EINVAL);  // Xen: only on yourself
  CHECK(w.vcpu_op(VCPUOP_initialise, 0, kArg) == -XEN_ENOSYS);
  CHECK(w.vcpu_op(0x7fff, 0, kArg) == -XEN_ENOSYS);
}

}  // namespace kxen::test
