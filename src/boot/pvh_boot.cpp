#include "boot/pvh_boot.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "boot/kernel_file.hpp"
#include "boot/pvh_loader.hpp"

namespace kxen::boot {

namespace {

using Fail = std::unexpected<std::string>;

// Loading into memory that was never registered would fail late and obscurely; say it plainly.
std::optional<std::string> check_ram(const GuestMemory& mem, const MemoryLayout& layout) {
  if (layout.ram.empty()) return std::string("memory layout has no RAM (build it with ram_layout)");
  for (const auto& r : layout.ram)
    if (!mem.is_ram(r.gpa, r.size))
      return fmt::format("guest RAM {:#x}+{:#x} is not registered; add_ram every MemoryLayout::ram range first",
                         r.gpa, r.size);
  return std::nullopt;
}

void log_image(const BootImage& b) {
  spdlog::info("boot: kernel {:#x}-{:#x}{}, entry {:#x}, start_info {:#x}", b.kernel.start, b.kernel.end,
               b.relocated ? " (relocated)" : "", b.entry, b.start_info);
  if (b.initrd) spdlog::info("boot: initrd {:#x}-{:#x}", b.initrd->start, b.initrd->end);
}

}  // namespace

std::expected<BootImage, std::string> load_pvh_image(GuestMemory& mem, const ElfImage& kernel,
                                                     std::optional<std::span<const std::byte>> initrd,
                                                     const BootConfig& config) {
  if (auto err = check_cmdline(config.cmdline)) return Fail(*err);
  if (auto err = check_ram(mem, config.layout)) return Fail(*err);
  auto placed = load_kernel(mem, kernel, config.layout);
  if (!placed) return Fail(placed.error());
  BootImage image;
  image.entry = placed->entry;
  image.kernel = placed->range;
  image.relocated = placed->relocated();
  if (initrd) {
    auto where = load_initrd(mem, *initrd, config.layout, placed->range);
    if (!where) return Fail(where.error());
    image.initrd = *where;
  }
  auto si = write_start_info(mem, {config.cmdline, config.rsdp_gpa, image.initrd, config.layout.e820});
  if (!si) return Fail(si.error());
  image.start_info = *si;
  image.e820 = config.layout.e820;
  image.special = config.layout.special;
  image.elf_class32 = !kernel.is_64bit();
  image.notes = kernel.notes();
  log_image(image);
  return image;
}

std::expected<BootImage, std::string> load_pvh_guest(GuestMemory& mem, const BootConfig& config) {
  // Cheap checks first so a typo in the command line does not cost a kernel decompression.
  if (auto err = check_cmdline(config.cmdline)) return Fail(*err);
  if (auto err = check_ram(mem, config.layout)) return Fail(*err);
  auto kernel = load_kernel_file(config.kernel_path);
  if (!kernel) return Fail(kernel.error());
  std::optional<std::vector<std::byte>> initrd;
  if (config.initrd_path) {
    auto bytes = read_host_file(*config.initrd_path, kMaxInitrdFile);
    if (!bytes) return Fail(bytes.error());
    initrd = std::move(*bytes);
  }
  std::optional<std::span<const std::byte>> initrd_view;
  if (initrd) initrd_view = std::span<const std::byte>(*initrd);
  return load_pvh_image(mem, *kernel, initrd_view, config);
}

}  // namespace kxen::boot
