#include "boot/pvh_loader.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace kxen::boot {

namespace {

using Fail = std::unexpected<std::string>;
constexpr std::uint64_t kMiB = 1ull << 20;

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) & ~(a - 1); }
std::uint64_t align_down(std::uint64_t v, std::uint64_t a) { return v & ~(a - 1); }

GpaRange seg_range(const ElfSegment& s, std::int64_t shift) {
  const Gpa start = s.paddr + static_cast<std::uint64_t>(shift);
  return {start, start + s.memsz};
}

bool inside_one(const std::vector<GpaRange>& ram, const GpaRange& r) {
  return std::any_of(ram.begin(), ram.end(), [&](const GpaRange& f) { return r.start >= f.start && r.end <= f.end; });
}

std::optional<std::string> check_segments(const ElfImage& elf) {
  auto segs = elf.segments();
  std::sort(segs.begin(), segs.end(), [](auto& a, auto& b) { return a.paddr < b.paddr; });
  for (std::size_t i = 1; i < segs.size(); ++i)
    if (seg_range(segs[i - 1], 0).overlaps(seg_range(segs[i], 0)))
      return fmt::format("ELF segments at {:#x}+{:#x} and {:#x}+{:#x} overlap", segs[i - 1].paddr,
                         segs[i - 1].memsz, segs[i].paddr, segs[i].memsz);
  const Gpa entry = elf.phys32_entry();
  const bool in_image = std::any_of(segs.begin(), segs.end(), [&](const ElfSegment& s) {
    return entry >= s.paddr && entry - s.paddr < s.memsz;
  });
  if (!in_image) return fmt::format("XEN_ELFNOTE_PHYS32_ENTRY {:#x} is outside the kernel's segments", entry);
  return std::nullopt;
}

// Why the image cannot sit at `shift`, or nullopt if every segment is in loadable RAM.
std::optional<std::string> misfit(const ElfImage& elf, const std::vector<GpaRange>& ram, std::int64_t shift) {
  for (const auto& s : elf.segments()) {
    const GpaRange r = seg_range(s, shift);
    if (r.end < r.start) return fmt::format("kernel segment at {:#x} wraps the address space", r.start);
    if (inside_one(ram, r)) continue;
    if (r.overlaps(kBootInfoArea))
      return fmt::format("kernel segment {:#x}-{:#x} overlaps the boot-info area {:#x}-{:#x}", r.start, r.end,
                         kBootInfoArea.start, kBootInfoArea.end);
    return fmt::format("kernel segment {:#x}-{:#x} is not in free guest RAM (RAM, not the ACPI area, special "
                       "pages or the MMIO hole)", r.start, r.end);
  }
  return std::nullopt;
}

// Lowest aligned base in [min, max] where the whole image fits one loadable RAM range.
std::optional<Gpa> find_reloc_base(const ElfImage& elf, const std::vector<GpaRange>& ram, const PhysReloc& reloc) {
  const std::uint64_t span = elf.phys_end() - elf.phys_start();
  for (const auto& f : ram) {
    const Gpa base = align_up(std::max<Gpa>(f.start, reloc.min), reloc.align);
    if (base >= f.end || f.end - base < span) continue;
    if (base + span - 1 > reloc.max) break;  // ranges are sorted: later ones are higher still
    const auto shift = static_cast<std::int64_t>(base - elf.phys_start());
    if (!misfit(elf, ram, shift)) return base;
  }
  return std::nullopt;
}

bool zero_fill(GuestMemory& mem, Gpa gpa, std::uint64_t len) {
  static constexpr std::byte kZeros[64 * 1024] = {};
  for (std::uint64_t done = 0; done < len;) {
    const std::uint64_t n = std::min<std::uint64_t>(sizeof kZeros, len - done);
    if (!mem.write(gpa + done, std::span(kZeros, n))) return false;
    done += n;
  }
  return true;
}

}  // namespace

std::vector<GpaRange> loadable_ram(const MemoryLayout& layout) {
  std::vector<GpaRange> out;
  for (const auto& e : layout.e820) {
    if (e.type != E820Type::ram) continue;
    const GpaRange r{e.addr, e.end()};
    if (!r.overlaps(kBootInfoArea)) {
      out.push_back(r);
      continue;
    }
    if (r.start < kBootInfoArea.start) out.push_back({r.start, kBootInfoArea.start});
    if (r.end > kBootInfoArea.end) out.push_back({kBootInfoArea.end, r.end});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.start < b.start; });
  return out;
}

std::expected<KernelPlacement, std::string> place_kernel(const ElfImage& elf, const MemoryLayout& layout) {
  if (auto err = check_segments(elf)) return Fail(*err);
  const auto ram = loadable_ram(layout);
  const auto at_link = misfit(elf, ram, 0);
  std::int64_t shift = 0;
  if (at_link) {
    const auto& reloc = elf.notes().phys32_reloc;
    if (!reloc)
      return Fail(fmt::format("{}; the kernel has no XEN_ELFNOTE_PHYS32_RELOC so it must load at its link "
                              "address {:#x}-{:#x} (give the guest more memory)",
                              *at_link, elf.phys_start(), elf.phys_end()));
    const auto base = find_reloc_base(elf, ram, *reloc);
    if (!base)
      return Fail(fmt::format("{}; no {:#x}-aligned place for the {} MiB kernel in [{:#x}, {:#x}] either "
                              "(give the guest more memory)", *at_link, reloc->align,
                              (elf.phys_end() - elf.phys_start() + kMiB - 1) / kMiB, reloc->min, reloc->max));
    shift = static_cast<std::int64_t>(*base - elf.phys_start());
  }
  const auto delta = static_cast<std::uint64_t>(shift);
  return KernelPlacement{elf.phys32_entry() + delta, {elf.phys_start() + delta, elf.phys_end() + delta}, shift};
}

std::expected<KernelPlacement, std::string> load_kernel(GuestMemory& mem, const ElfImage& elf,
                                                        const MemoryLayout& layout) {
  auto placed = place_kernel(elf, layout);
  if (!placed) return placed;
  for (const auto& s : elf.segments()) {
    const Gpa gpa = seg_range(s, placed->shift).start;
    if (!mem.write(gpa, elf.file_bytes(s)) || !zero_fill(mem, gpa + s.filesz, s.memsz - s.filesz))
      return Fail(fmt::format("kernel segment {:#x}+{:#x} is not backed by guest memory (was add_ram called "
                              "for every MemoryLayout::ram range?)", gpa, s.memsz));
  }
  return placed;
}

std::expected<GpaRange, std::string> place_initrd(std::uint64_t size, const MemoryLayout& layout,
                                                  const GpaRange& kernel) {
  if (size == 0) return Fail("the initrd is empty");
  const std::uint64_t pages = align_up(size, kPageSize);
  const Gpa floor = align_up(kernel.end, kPageSize);
  const auto ram = loadable_ram(layout);
  std::uint64_t largest = 0;
  for (auto it = ram.rbegin(); it != ram.rend(); ++it) {
    const Gpa top = std::min<Gpa>(it->end, kFourGiB);
    const Gpa bottom = std::max<Gpa>(it->start, floor);
    if (top <= bottom) continue;
    largest = std::max(largest, top - bottom);
    if (top - bottom >= pages) {
      const Gpa start = align_down(top - pages, kPageSize);
      return GpaRange{start, start + size};
    }
  }
  return Fail(fmt::format("guest memory too small: the kernel occupies {:#x}-{:#x} ({} MiB) and the {}-byte "
                          "({} MiB) initrd needs room above it below 4 GiB, but the largest free range there is "
                          "{} MiB (guest has {} MiB; give it more memory)", kernel.start, kernel.end,
                          kernel.size() / kMiB, size, (size + kMiB - 1) / kMiB, largest / kMiB,
                          layout.mem_bytes / kMiB));
}

std::expected<GpaRange, std::string> load_initrd(GuestMemory& mem, std::span<const std::byte> initrd,
                                                 const MemoryLayout& layout, const GpaRange& kernel) {
  auto placed = place_initrd(initrd.size(), layout, kernel);
  if (!placed) return placed;
  if (!mem.write(placed->start, initrd))
    return Fail(fmt::format("initrd {:#x}+{:#x} is not backed by guest memory", placed->start, initrd.size()));
  return placed;
}

}  // namespace kxen::boot
