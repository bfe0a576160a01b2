// pvclock arithmetic and the version-protected writes of vcpu_time_info and the wallclock.
#include "xen/time/pvclock.hpp"

#include <catch2/catch.hpp>

namespace kxen::test {
namespace {
constexpr Gpa kPage = 0x3000;
}  // namespace

TEST_CASE("write_vcpu_time leaves an even, advanced version and the fields", "[time]") {
  GuestMemory memory;
  REQUIRE_FALSE(memory.add_ram(0, 0x10000));
  vcpu_time_info info{};
  info.version = 999;  // ignored: the guest's copy holds the version
  info.tsc_timestamp = 0x1122334455667788ull;
  info.system_time = 42;
  info.tsc_to_system_mul = 0x9abcdef0u;
  info.tsc_shift = -1;
  info.flags = XEN_PVCLOCK_TSC_STABLE_BIT;
  REQUIRE(write_vcpu_time(memory, kPage, info));
  auto got = memory.read_obj<vcpu_time_info>(kPage);
  REQUIRE(got);
  CHECK(got->version == 2);
  CHECK(got->tsc_timestamp == info.tsc_timestamp);
  CHECK(got->system_time == 42u);
  CHECK(got->tsc_to_system_mul == 0x9abcdef0u);
  CHECK(got->tsc_shift == -1);
  CHECK(got->flags == XEN_PVCLOCK_TSC_STABLE_BIT);
  // A guest that left the version odd still ends with an even one.
  REQUIRE(memory.write_obj<std::uint32_t>(kPage, 7));
  REQUIRE(write_vcpu_time(memory, kPage, info));
  CHECK(memory.read_obj<std::uint32_t>(kPage) == 10u);
}

TEST_CASE("write_vcpu_time refuses unaligned and unbacked places", "[time]") {
  GuestMemory memory;
  REQUIRE_FALSE(memory.add_ram(0, 0x10000));
  CHECK_FALSE(write_vcpu_time(memory, kPage + 2, vcpu_time_info{}));
  CHECK_FALSE(write_vcpu_time(memory, 0x10000 - 16, vcpu_time_info{}));  // runs off RAM
  CHECK_FALSE(write_vcpu_time(memory, 0x7000'0000, vcpu_time_info{}));
}

TEST_CASE("write_wallclock fills either shared_info layout", "[time]") {
  GuestMemory memory;
  REQUIRE_FALSE(memory.add_ram(0, 0x10000));
  const Wallclock wc{0x1'2345'6789ull, 123456789};
  REQUIRE(write_wallclock(memory, kPage, true, wc));
  auto info = memory.read_obj<shared_info>(kPage);
  REQUIRE(info);
  CHECK(info->wc_version == 2);
  CHECK(info->wc_sec == 0x23456789u);
  CHECK(info->wc_nsec == 123456789u);
  CHECK(info->wc_sec_hi == 1u);
  // 32-bit layout: wc_version after 32 vcpu_infos and two 128-byte bitmaps; no wc_sec_hi there.
  const Gpa other = 0x6000;
  REQUIRE(write_wallclock(memory, other, false, wc));
  CHECK(memory.read_obj<std::uint32_t>(other + 2304) == 2u);
  CHECK(memory.read_obj<std::uint32_t>(other + 2308) == 0x23456789u);
  CHECK(memory.read_obj<std::uint32_t>(other + 2312) == 123456789u);
  CHECK(memory.read_obj<std::uint32_t>(other + 2316) == 0u);
  CHECK_FALSE(write_wallclock(memory, 0x7000'0000, true, wc));
}

}  // namespace kxen::test
