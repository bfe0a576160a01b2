// A parsed x86 ELF kernel: loadable segments and the Xen ELF notes a PVH loader needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace kxen::boot {

// Xen 4.17's <xen/elfnote.h> predates this note (added in Xen 4.20); the value is Xen's.
#ifndef XEN_ELFNOTE_PHYS32_RELOC
#define XEN_ELFNOTE_PHYS32_RELOC 19
#endif

struct ElfSegment {
  std::uint64_t paddr = 0;
  std::uint64_t vaddr = 0;
  std::uint64_t offset = 0;   // validated: [offset, offset+filesz) lies inside the file
  std::uint64_t filesz = 0;
  std::uint64_t memsz = 0;    // validated: >= filesz, paddr+memsz does not wrap
  std::uint64_t align = 0;
  std::uint32_t flags = 0;    // PF_R / PF_W / PF_X
};

inline constexpr std::uint32_t kDefaultRelocAlign = 0x200000;

// XEN_ELFNOTE_PHYS32_RELOC, with Xen's defaults for the fields a kernel leaves out.
struct PhysReloc {
  std::uint32_t align = 0;          // note value, else max p_align >= 4 KiB, else 2 MiB
  std::uint32_t min = 0;
  std::uint32_t max = 0xffffffff;   // last byte the image may occupy
};

struct XenNotes {
  std::optional<std::uint32_t> phys32_entry;
  std::optional<PhysReloc> phys32_reloc;
  std::optional<std::uint64_t> hypercall_page;
  std::optional<std::uint64_t> virt_base;
  std::string guest_os;
  std::string guest_version;
  std::string xen_version;
  std::string loader;
  std::string features;
};

// Owns the ELF bytes; segments point into them by offset.
class ElfImage final {
 public:
  bool is_64bit() const { return is_64bit_; }
  std::uint16_t machine() const { return machine_; }
  std::uint64_t elf_entry() const { return elf_entry_; }
  const std::vector<ElfSegment>& segments() const { return segments_; }
  const XenNotes& notes() const { return notes_; }
  std::uint32_t phys32_entry() const { return *notes_.phys32_entry; }
  // The bytes a segment copies into guest memory (filesz of them).
  std::span<const std::byte> file_bytes(const ElfSegment& seg) const;
  // Lowest paddr and end of the highest segment (memsz), i.e. the image's physical span.
  std::uint64_t phys_start() const;
  std::uint64_t phys_end() const;

 private:
  friend std::expected<ElfImage, std::string> parse_elf(std::vector<std::byte> bytes);
  std::vector<std::byte> bytes_;
  bool is_64bit_ = false;
  std::uint16_t machine_ = 0;
  std::uint64_t elf_entry_ = 0;
  std::vector<ElfSegment> segments_;
  XenNotes notes_;
};

// Upper bound on PT_LOAD segments; real kernels have a handful.
inline constexpr std::size_t kMaxLoadSegments = 64;

// Parses ELFCLASS32 (EM_386) or ELFCLASS64 (EM_X86_64) little-endian images. Requires PT_LOAD
// segments and XEN_ELFNOTE_PHYS32_ENTRY; the error text says what is wrong.
std::expected<ElfImage, std::string> parse_elf(std::vector<std::byte> bytes);

// True if the bytes start with the ELF magic.
bool is_elf(std::span<const std::byte> bytes);

}  // namespace kxen::boot
