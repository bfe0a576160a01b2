// The MSI kxen sends for a per-vCPU upcall vector (KVM_SIGNAL_MSI), checked bit by bit.
#include <catch2/catch.hpp>

#include "kvm/kvm_xen_accel.hpp"

using namespace kxen;

TEST_CASE("a per-vCPU upcall is a fixed, edge, physical MSI to that vCPU's APIC ID", "[kvm]") {
  const auto msi = upcall_msi(3, 0xf3);
  REQUIRE(msi);
  CHECK(msi->address_lo == 0xfee03000u);  // destination ID in bits 19:12, physical mode
  CHECK(msi->address_hi == 0);
  CHECK(msi->data == 0x40f3u);            // vector, delivery mode fixed, level assert, edge
  CHECK(msi->flags == 0);
  CHECK(upcall_msi(0, 0x10)->address_lo == 0xfee00000u);
  CHECK(upcall_msi(255, 0x10)->address_lo == 0xfeeff000u);
  CHECK_FALSE(upcall_msi(256, 0xf3));  // would need the x2APIC destination format
}
