#include "vmm/vm_builder.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "boot/acpi/acpi_tables.hpp"
#include "boot/kernel_cache.hpp"
#include "boot/kernel_file.hpp"
#include "boot/pvh_boot.hpp"

namespace kxen {
namespace {

std::uint64_t host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
}

// The kernel cache to use: none when off; a directory the user named must be usable.
std::expected<std::optional<boot::KernelCache>, std::string> kernel_cache_of(const VmDescription& options) {
  if (options.no_kernel_cache) return std::nullopt;
  if (options.kernel_cache_dir) {
    boot::KernelCache cache(*options.kernel_cache_dir);
    if (auto err = cache.create_dir()) return std::unexpected("--kernel-cache " + *err);
    return cache;
  }
  const auto dir = boot::KernelCache::default_dir();
  if (!dir) return std::nullopt;
  boot::KernelCache cache(*dir);
  if (auto err = cache.create_dir()) {
    spdlog::debug("boot: no kernel cache: {}", *err);
    return std::nullopt;
  }
  return cache;
}

std::expected<BootInputs, std::string> read_inputs(const VmDescription& options) {
  auto layout = boot::ram_layout(options.memory_bytes, host_memory_bytes());
  if (!layout) return std::unexpected(layout.error());
  if (auto err = boot::check_cmdline(options.cmdline)) return std::unexpected(*err);
  auto cache = kernel_cache_of(options);
  if (!cache) return std::unexpected(cache.error());
  auto kernel = boot::load_kernel_file(options.kernel, *cache ? &**cache : nullptr);
  if (!kernel) return std::unexpected(kernel.error());
  BootInputs inputs{std::move(*layout), std::move(*kernel), std::nullopt};
  if (options.initrd) {
    auto initrd = boot::read_host_file(*options.initrd, boot::kMaxInitrdFile);
    if (!initrd) return std::unexpected(initrd.error());
    inputs.initrd = std::move(*initrd);
  }
  return inputs;
}

}  // namespace

std::expected<BootInputs, std::string> load_boot_inputs(const VmDescription& description) {
  if (auto err = validate(description)) return std::unexpected(*err);
  return read_inputs(description);
}

std::expected<std::unique_ptr<Vm>, BuildError> build_vm(const VmDescription& options, const BootInputs& inputs) {
  VmConfig config;
  for (const auto& r : inputs.layout.ram) config.ram.push_back(RamRange{r.gpa, r.size});
  config.vcpus = options.vcpus;
  config.transport = options.transport;
  config.kvm_path = options.kvm_path;
  config.prefault_memory = options.prefault_memory;
  const auto& layout = inputs.layout;
  for (const auto& e : layout.e820)
    config.platform.memory_map.push_back({e.addr, e.size, static_cast<std::uint32_t>(e.type)});
  config.platform.ram_pages = options.memory_bytes >> kPageShift;
  config.platform.console_pfn = layout.special.console_pfn();
  config.platform.store_pfn = layout.special.xenstore_pfn();
  config.platform.evtchn_abi = options.evtchn_abi;
  config.services.memory_kib = options.memory_bytes >> 10;
  config.services.name = options.name;
  config.services.devices = options.devices;

  auto vm = Vm::create(config);
  if (!vm) return std::unexpected(BuildError{vm.error().starts_with("--"), vm.error()});

  // MADT: one LAPIC per vCPU and the IOAPIC only where KVM emulates them (the kvm-xen transport);
  // elsewhere no MADT, as CPUID shows no APIC there.
  const bool kvm_irqchip = (*vm)->transport() == TransportKind::kvm_xen;
  auto rsdp = boot::acpi::write_acpi_tables(
      (*vm)->memory(), boot::acpi::AcpiConfig{.vcpus = options.vcpus, .ioapic = kvm_irqchip, .lapic = kvm_irqchip});
  if (!rsdp) return std::unexpected(BuildError{true, rsdp.error()});

  boot::BootConfig boot_config;
  boot_config.kernel_path = options.kernel;
  boot_config.initrd_path = options.initrd;
  boot_config.cmdline = options.cmdline;
  boot_config.rsdp_gpa = *rsdp;
  boot_config.layout = inputs.layout;
  std::optional<std::span<const std::byte>> initrd;
  if (inputs.initrd) initrd = std::span<const std::byte>(*inputs.initrd);
  auto image = boot::load_pvh_image((*vm)->memory(), inputs.kernel, initrd, boot_config);
  if (!image) return std::unexpected(BuildError{true, image.error()});
  if (auto r = (*vm)->set_pvh_entry(static_cast<std::uint32_t>(image->entry),
                                    static_cast<std::uint32_t>(image->start_info));
      !r)
    return std::unexpected(BuildError{false, r.error()});
  spdlog::info("boot: entry {:#x}, start_info {:#x}, RSDP {:#x}, {} MiB, {} vCPU(s)", image->entry,
               image->start_info, *rsdp, options.memory_bytes >> 20, options.vcpus);
  return std::move(*vm);
}

}  // namespace kxen
