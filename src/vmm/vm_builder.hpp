// Builds one boot of a VM from its description: reads and checks the kernel and initrd before
// KVM is touched, then creates the Vm, writes ACPI tables, loads the PVH image.
#pragma once

#include <cstddef>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "boot/e820.hpp"
#include "boot/elf_image.hpp"
#include "vmm/vm.hpp"
#include "vmm/vm_description.hpp"

namespace kxen {

// The host files of a description, read once for every boot.
struct BootInputs {
  boot::MemoryLayout layout;
  boot::ElfImage kernel;
  std::optional<std::vector<std::byte>> initrd;
};

struct BuildError {
  bool usage = false;  // the user's input is at fault (vs. the host)
  std::string message;
};

std::expected<BootInputs, std::string> load_boot_inputs(const VmDescription& description);
std::expected<std::unique_ptr<Vm>, BuildError> build_vm(const VmDescription& description, const BootInputs& inputs);

}  // namespace kxen
