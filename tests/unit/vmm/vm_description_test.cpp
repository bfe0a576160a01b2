// The VM description's whole-VM checks.
#include <catch2/catch.hpp>

#include "vmm/vm_description.hpp"

using namespace kxen;

namespace {
class NamedDevice final : public xenbus::BackendFactory {
 public:
  NamedDevice(std::string type, std::uint32_t devid) : type_(std::move(type)), devid_(devid) {}
  std::string_view type() const override { return type_; }
  std::uint32_t devid() const override { return devid_; }
  std::string describe() const override { return type_ + " " + std::to_string(devid_); }
  std::unique_ptr<xenbus::XenBackend> create() override { return nullptr; }

 private:
  std::string type_;
  std::uint32_t devid_;
};
}  // namespace

TEST_CASE("a VM description needs a kernel and a vCPU", "[vmm]") {
  VmDescription d;
  CHECK(validate(d) == "no kernel: use --kernel PATH");
  d.kernel = "vmlinuz";
  CHECK_FALSE(validate(d));
  d.vcpus = 0;
  CHECK(validate(d)->starts_with("--vcpus 0"));
}

TEST_CASE("two devices of one type may not share an id", "[vmm]") {
  VmDescription d;
  d.kernel = "vmlinuz";
  d.devices.push_back(std::make_shared<NamedDevice>("vbd", 51712));
  d.devices.push_back(std::make_shared<NamedDevice>("vif", 51712));  // another type: fine
  CHECK_FALSE(validate(d));
  d.devices.push_back(std::make_shared<NamedDevice>("vbd", 51712));
  CHECK(validate(d) == "vbd 51712 and vbd 51712 have the same device id 51712");
}
