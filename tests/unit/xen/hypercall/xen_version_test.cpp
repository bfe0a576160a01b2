#include <catch2/catch.hpp>

#include "guest_fixture.hpp"
#include "xen/hypercall/xen_abi.hpp"

using namespace kxen;
using namespace kxen::test;

TEST_CASE("xen_version reports Xen 4.17 and its strings", "[hypercall]") {
  const bool paged = GENERATE(false, true);
  Guest g(paged);
  const Gpa phys = Guest::kBuf;

  CHECK(g.call(__HYPERVISOR_xen_version, XENVER_version).result == ((4 << 16) | 17));
  // Xen takes an int command: high bits of a 64-bit register do not select another command.
  CHECK(g.call(__HYPERVISOR_xen_version, 0x100000000ull | XENVER_version).result == ((4 << 16) | 17));

  SECTION("extraversion is NUL-terminated inside xen_extraversion_t") {
    g.mem.write(phys, std::vector<std::byte>(32, std::byte{0xff}));
    REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_extraversion, g.buf).result == 0);
    CHECK(read_string(g.mem, phys, 16) == ".0-kxen");
    CHECK(g.mem.read_obj<std::uint8_t>(phys + 15) == 0);
    CHECK(g.mem.read_obj<std::uint8_t>(phys + 16) == 0xff);  // nothing past the 16 bytes
  }
  SECTION("capabilities, changeset, compile_info") {
    REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_capabilities, g.buf).result == 0);
    CHECK(read_string(g.mem, phys, 1024) == "hvm-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p");
    REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_changeset, g.buf).result == 0);
    CHECK(read_string(g.mem, phys, 64).rfind("kxen", 0) == 0);
    REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_compile_info, g.buf).result == 0);
    const auto info = *g.mem.read_obj<xen_compile_info_t>(phys);
    CHECK(std::string(info.compile_by) == "kxen");
    CHECK(info.compiler[63] == '\0');
  }
  SECTION("get_features: submap 0 is the PVH domU set, others are invalid") {
    g.mem.write_obj(phys, xen_feature_info_t{0, 0xdeadbeef});
    REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_get_features, g.buf).result == 0);
    const std::uint32_t submap = g.mem.read_obj<xen_feature_info_t>(phys)->submap;
    CHECK(submap == kPvhDomUFeatures);
    CHECK((submap & (1u << XENFEAT_auto_translated_physmap)));
    CHECK((submap & (1u << XENFEAT_hvm_callback_vector)));
    CHECK((submap & (1u << XENFEAT_hvm_safe_pvclock)));
    CHECK_FALSE((submap & (1u << XENFEAT_hvm_pirqs)));
    CHECK_FALSE((submap & (1u << XENFEAT_supervisor_mode_kernel)));
    CHECK_FALSE((submap & (1u << XENFEAT_dom0)));

    g.mem.write_obj(phys, xen_feature_info_t{1, 0});
    CHECK(g.call(__HYPERVISOR_xen_version, XENVER_get_features, g.buf).result == -XEN_EINVAL);
    CHECK(g.call(__HYPERVISOR_xen_version, XENVER_get_features, g.bad()).result == -XEN_EFAULT);
  }
  SECTION("pagesize, guest_handle, commandline, build_id") {
    CHECK(g.call(__HYPERVISOR_xen_version, XENVER_pagesize).result == 4096);
    CHECK(g.call(__HYPERVISOR_xen_version, XENVER_pagesize, g.buf).result == -XEN_EINVAL);
    g.mem.write(phys, std::vector<std::byte>(16, std::byte{0xff}));
    REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_guest_handle, g.buf).result == 0);
    CHECK(g.mem.read_obj<std::uint64_t>(phys) == 0u);
    CHECK(g.mem.read_obj<std::uint64_t>(phys + 8) == 0u);
    REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_commandline, g.buf).result == 0);
    CHECK(read_string(g.mem, phys, 1024) == "<denied>");
    CHECK(g.call(__HYPERVISOR_xen_version, XENVER_build_id, g.buf).result == -XEN_EPERM);
    CHECK(g.call(__HYPERVISOR_xen_version, 99, g.buf).result == -XEN_ENOSYS);
  }
  SECTION("every output command faults on a bad pointer") {
    for (unsigned cmd : {XENVER_extraversion, XENVER_compile_info, XENVER_capabilities, XENVER_changeset,
                         XENVER_platform_parameters, XENVER_guest_handle, XENVER_commandline})
      CHECK(g.call(__HYPERVISOR_xen_version, cmd, g.bad()).result == -XEN_EFAULT);
  }
}

TEST_CASE("xen_version platform_parameters has the caller's layout", "[hypercall]") {
  Guest g(false);
  const Gpa phys = Guest::kBuf;
  g.mem.write(phys, std::vector<std::byte>(16, std::byte{0xff}));
  REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_platform_parameters, g.buf).result == 0);
  CHECK(g.mem.read_obj<std::uint64_t>(phys) == 0xffff800000000000ull);

  g.mem.write(phys, std::vector<std::byte>(16, std::byte{0xff}));
  REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_platform_parameters, g.buf, 0, false).result == 0);
  CHECK(g.mem.read_obj<std::uint32_t>(phys) == 0u);
  CHECK(g.mem.read_obj<std::uint32_t>(phys + 4) == 0xffffffffu);  // compat struct is 4 bytes
}

TEST_CASE("xen_version answers from the configuration", "[hypercall]") {
  HypercallConfig config;
  config.features = (1u << XENFEAT_auto_translated_physmap) | (1u << XENFEAT_hvm_pirqs);
  config.extraversion = ".0-a-very-long-extraversion";
  config.guest_handle = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  Guest g(false, config);
  const Gpa phys = Guest::kBuf;

  g.mem.write_obj(phys, xen_feature_info_t{0, 0});
  REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_get_features, g.buf).result == 0);
  CHECK(g.mem.read_obj<xen_feature_info_t>(phys)->submap == config.features);

  REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_extraversion, g.buf).result == 0);
  CHECK(read_string(g.mem, phys, 16) == ".0-a-very-long-");  // cut to 15 + NUL

  REQUIRE(g.call(__HYPERVISOR_xen_version, XENVER_guest_handle, g.buf).result == 0);
  CHECK(g.mem.read_obj<std::uint8_t>(phys) == 1);
  CHECK(g.mem.read_obj<std::uint8_t>(phys + 15) == 16);
}
