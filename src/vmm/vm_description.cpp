#include "vmm/vm_description.hpp"

#include <fmt/format.h>

namespace kxen {

std::optional<std::string> validate(const VmDescription& description) {
  if (description.kernel.empty()) return std::string("no kernel: use --kernel PATH");
  if (description.vcpus == 0) return std::string("--vcpus 0: a guest needs at least one vCPU");
  for (std::size_t i = 0; i < description.devices.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto& a = *description.devices[i];
      const auto& b = *description.devices[j];
      if (a.type() == b.type() && a.devid() == b.devid())
        return fmt::format("{} and {} have the same device id {}", b.describe(), a.describe(), a.devid());
    }
  }
  return std::nullopt;
}

}  // namespace kxen
