#include <catch2/catch.hpp>

#include <linux/kvm.h>

#include "kvm/pvh_entry.hpp"
#include "kvm/transport.hpp"

using namespace kxen;

TEST_CASE("transport choice follows KVM's Xen capability", "[kvm][transport]") {
  const unsigned full = KVM_XEN_HVM_CONFIG_HYPERCALL_MSR | KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL;
  CHECK(choose_transport(TransportRequest::automatic, full) == TransportKind::kvm_xen);
  CHECK(choose_transport(TransportRequest::automatic, 0) == TransportKind::hypercall_page);
  CHECK(choose_transport(TransportRequest::automatic, KVM_XEN_HVM_CONFIG_HYPERCALL_MSR) ==
        TransportKind::hypercall_page);
  CHECK(choose_transport(TransportRequest::hypercall_page, full) == TransportKind::hypercall_page);
  auto refused = choose_transport(TransportRequest::kvm_xen, 0);
  REQUIRE_FALSE(refused.has_value());
  CHECK_THAT(refused.error(), Catch::Contains("no Xen hypercall interception") &&
                                  Catch::Contains("--transport hypercall-page"));
}

TEST_CASE("PVH entry state is 32-bit flat protected mode with EBX = start_info", "[kvm][pvh]") {
  kvm_sregs sregs{};
  kvm_regs regs{};
  regs.rax = 0xdead;
  set_pvh_entry_state(sregs, regs, 0x1000000, 0x6000);
  CHECK(regs.rip == 0x1000000);
  CHECK(regs.rbx == 0x6000);
  CHECK(regs.rax == 0);
  CHECK(regs.rflags == 0x2);  // IF, TF and VM clear
  CHECK(sregs.cr0 == 1);      // PE only: paging off
  CHECK(sregs.cr4 == 0);
  CHECK(sregs.efer == 0);
  for (const kvm_segment* s : {&sregs.cs, &sregs.ds, &sregs.es, &sregs.ss}) {
    CHECK(s->base == 0);
    CHECK(s->limit == 0xffffffff);
    CHECK(s->db == 1);
    CHECK(s->present == 1);
    CHECK(s->l == 0);
  }
  CHECK((sregs.cs.type & 0x8) != 0);  // code
  CHECK((sregs.ds.type & 0x8) == 0);  // data
  CHECK(sregs.tr.type == 0xb);        // 32-bit TSS
}
