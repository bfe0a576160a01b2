// hvm_op: parameter permissions, the callback vector and per-vCPU upcall vectors.
#include "platform_fakes.hpp"

namespace kxen::test {
namespace {

constexpr std::uint64_t kVectorType = 2ull << 56;  // HVM_PARAM_CALLBACK_TYPE_VECTOR in bits 63:56

std::int64_t param_op(PlatformWorld& w, std::uint64_t cmd, std::uint32_t index, std::uint64_t value = 0,
                      domid_t domid = DOMID_SELF) {
  xen_hvm_param p{};
  p.domid = domid;
  p.index = index;
  p.value = value;
  REQUIRE(w.memory.write_obj(kArg, p));
  return w.hvm_op(cmd, kArg);
}

std::uint64_t get_param(PlatformWorld& w, std::uint32_t index) {
  REQUIRE(param_op(w, HVMOP_get_param, index, 0xdead) == 0);
  return w.memory.read_obj<xen_hvm_param>(kArg)->value;
}

std::int64_t upcall_vector(PlatformWorld& w, std::uint32_t vcpu, std::uint8_t vector) {
  xen_hvm_evtchn_upcall_vector op{};
  op.vcpu = vcpu;
  op.vector = vector;
  REQUIRE(w.memory.write_obj(kArg, op));
  return w.hvm_op(HVMOP_set_evtchn_upcall_vector, kArg);
}

}  // namespace

TEST_CASE("get_param returns the configured console and store pages", "[platform]") {
  PlatformWorld w;
  CHECK(get_param(w, HVM_PARAM_CONSOLE_PFN) == 0x77u);
  CHECK(get_param(w, HVM_PARAM_STORE_PFN) == 0x78u);
  w.platform->set_hvm_param(HVM_PARAM_STORE_EVTCHN, 3);
  w.platform->set_hvm_param(HVM_PARAM_CONSOLE_EVTCHN, 4);
  CHECK(get_param(w, HVM_PARAM_STORE_EVTCHN) == 3u);
  CHECK(get_param(w, HVM_PARAM_CONSOLE_EVTCHN) == 4u);
  CHECK(get_param(w, HVM_PARAM_CALLBACK_IRQ) == 0u);
  CHECK(get_param(w, HVM_PARAM_TIMER_MODE) == 0u);
  // The guest's own domid works like DOMID_SELF.
  REQUIRE(param_op(w, HVMOP_get_param, HVM_PARAM_STORE_PFN, 0, kDomid) == 0);
  CHECK(w.memory.read_obj<xen_hvm_param>(kArg)->value == 0x78u);
}

TEST_CASE("get_param refuses parameters outside the readable list", "[platform]") {
  PlatformWorld w;
  w.platform->set_hvm_param(HVM_PARAM_IDENT_PT, 0x1234);
  for (std::uint32_t index : {HVM_PARAM_IDENT_PT, HVM_PARAM_HPET_ENABLED, HVM_PARAM_IOREQ_PFN}) {
    CHECK(param_op(w, HVMOP_get_param, index, 0xdead) == -XEN_EPERM);
    CHECK(w.memory.read_obj<xen_hvm_param>(kArg)->value == 0xdeadu);  // nothing leaked
  }
}

TEST_CASE("hvm params reject bad pointers, foreign domains and bad indices", "[platform]") {
  PlatformWorld w;
  for (auto cmd : {HVMOP_get_param, HVMOP_set_param}) {
    CHECK(w.hvm_op(cmd, kBadPointer) == -XEN_EFAULT);
    CHECK(param_op(w, cmd, HVM_PARAM_STORE_PFN, 0, kDomid + 1) == -XEN_ESRCH);
    CHECK(param_op(w, cmd, HVM_NR_PARAMS) == -XEN_EINVAL);
    CHECK(param_op(w, cmd, 0xffffffffu) == -XEN_EINVAL);
  }
  CHECK(w.platform->hvm_param(HVM_NR_PARAMS) == 0u);
}

TEST_CASE("set_param accepts only the callback parameter", "[platform]") {
  PlatformWorld w;
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_STORE_PFN, 0x99) == -XEN_EPERM);
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CONSOLE_EVTCHN, 9) == -XEN_EPERM);
  CHECK(w.platform->hvm_param(HVM_PARAM_STORE_PFN) == 0x78u);
  CHECK(w.platform->hvm_param(HVM_PARAM_CONSOLE_EVTCHN) == 0u);
}

TEST_CASE("callback vector: type 2 with a vector >= 0x10, passed to KVM", "[platform]") {
  PlatformWorld w;
  REQUIRE(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, kVectorType | 0xf3) == 0);
  CHECK(w.accel.callback_vectors == std::vector<std::uint8_t>{0xf3});
  CHECK(get_param(w, HVM_PARAM_CALLBACK_IRQ) == (kVectorType | 0xf3));

  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, 5) == -XEN_EINVAL);  // type 0: GSI
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, (1ull << 56) | 0x20) == -XEN_EINVAL);  // PCI INTx
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, kVectorType | 0x0f) == -XEN_EINVAL);
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, kVectorType) == -XEN_EINVAL);
  CHECK(w.accel.callback_vectors.size() == 1);
  CHECK(w.platform->hvm_param(HVM_PARAM_CALLBACK_IRQ) == (kVectorType | 0xf3));

  // Lowest legal vector, then 0 switches the callback off.
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, kVectorType | 0x10) == 0);
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, 0) == 0);
  CHECK(w.platform->hvm_param(HVM_PARAM_CALLBACK_IRQ) == 0u);
  CHECK(w.accel.callback_vectors == std::vector<std::uint8_t>{0xf3, 0x10, 0});
}

TEST_CASE("GSI 1 as the callback is accepted once vCPU 0 has its own upcall vector", "[platform]") {
  PlatformWorld w;
  // Linux sets GSI 1 after HVMOP_set_evtchn_upcall_vector only so tools see a callback.
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, 1) == -XEN_EINVAL);
  REQUIRE(upcall_vector(w, 1, 0xf3) == 0);
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, 1) == -XEN_EINVAL);  // vCPU 1 is not enough
  REQUIRE(upcall_vector(w, 0, 0xf3) == 0);
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, 1) == 0);
  CHECK(w.platform->hvm_param(HVM_PARAM_CALLBACK_IRQ) == 1u);
  CHECK(w.accel.callback_vectors.empty());  // the global vector stays off: per-vCPU vectors deliver
}

TEST_CASE("callback vector refused by KVM leaves the parameter unchanged", "[platform]") {
  PlatformWorld w;
  w.accel.ok = false;
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, kVectorType | 0xf3) == -XEN_EINVAL);
  CHECK(w.platform->hvm_param(HVM_PARAM_CALLBACK_IRQ) == 0u);
}

TEST_CASE("callback vector without KVM acceleration is stored", "[platform]") {
  PlatformWorld w(false);
  CHECK(param_op(w, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, kVectorType | 0xf3) == 0);
  CHECK(w.platform->hvm_param(HVM_PARAM_CALLBACK_IRQ) == (kVectorType | 0xf3));
  CHECK(w.accel.callback_vectors.empty());
}

TEST_CASE("set_evtchn_upcall_vector validates vCPU and vector and needs KVM", "[platform]") {
  PlatformWorld w;
  CHECK(upcall_vector(w, 1, 0xf3) == 0);
  CHECK(w.accel.upcall_vectors == std::vector<RecordingAccel::Pair>{{1, 0xf3}});
  CHECK(upcall_vector(w, 2, 0xf3) == -XEN_EINVAL);
  CHECK(upcall_vector(w, 0, 0x0f) == -XEN_EINVAL);
  CHECK(w.hvm_op(HVMOP_set_evtchn_upcall_vector, kBadPointer) == -XEN_EFAULT);
  CHECK(w.accel.upcall_vectors.size() == 1);
  w.accel.ok = false;
  CHECK(upcall_vector(w, 0, 0xf3) == -XEN_ENOSYS);

  PlatformWorld plain(false);
  CHECK(upcall_vector(plain, 0, 0xf3) == -XEN_ENOSYS);
}

TEST_CASE("pagetable_dying is refused and unknown hvm ops are unsupported", "[platform]") {
  PlatformWorld w;
  CHECK(w.hvm_op(HVMOP_pagetable_dying, kArg) == -XEN_EINVAL);
  CHECK(w.hvm_op(HVMOP_get_time, kArg) == -XEN_ENOSYS);
  CHECK(w.hvm_op(0x7fff, kArg) == -XEN_ENOSYS);
}

}  // namespace kxen::test
