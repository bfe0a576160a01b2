#include "boot/elf_image.hpp"

#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <memory>

#include "boot/elf_notes.hpp"

namespace kxen::boot {

namespace {

using Fail = std::unexpected<std::string>;

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfHandle = std::unique_ptr<Elf, ElfCloser>;

// a + b without wrapping, or nullopt.
std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) {
  if (a + b < a) return std::nullopt;
  return a + b;
}

std::optional<std::string> check_header(Elf* elf, const GElf_Ehdr& eh, std::size_t size) {
  const int cls = gelf_getclass(elf);
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return "ELF is not little-endian; not an x86 kernel";
  if (cls == ELFCLASS64 && eh.e_machine != EM_X86_64)
    return fmt::format("ELF machine {} is not x86-64 (EM_X86_64)", eh.e_machine);
  // A 32-bit container around 64-bit code (objcopy -O elf32-x86-64) is a common PVH packaging; Xen boots it.
  if (cls == ELFCLASS32 && eh.e_machine != EM_386 && eh.e_machine != EM_X86_64)
    return fmt::format("ELF machine {} is not i386 (EM_386) or x86-64 (EM_X86_64)", eh.e_machine);
  if (cls != ELFCLASS32 && cls != ELFCLASS64) return "ELF class is neither 32- nor 64-bit";
  if (eh.e_phnum == 0 || eh.e_phoff == 0) return "ELF has no program headers";
  if (eh.e_phnum == PN_XNUM) return "ELF uses extended program header numbering; no kernel needs that";
  const std::uint64_t phsize = std::uint64_t{eh.e_phnum} * eh.e_phentsize;
  const auto ph_end = add(eh.e_phoff, phsize);
  if (!ph_end || *ph_end > size)
    return fmt::format("ELF program headers ({} at {:#x}) lie outside the {}-byte file", eh.e_phnum,
                       eh.e_phoff, size);
  return std::nullopt;
}

std::expected<ElfSegment, std::string> check_load(const GElf_Phdr& ph, std::size_t index, std::size_t size) {
  ElfSegment s{ph.p_paddr, ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_align, ph.p_flags};
  const auto file_end = add(s.offset, s.filesz);
  if (!file_end || *file_end > size)
    return Fail(fmt::format("ELF segment {} file range {:#x}+{:#x} lies outside the {}-byte file", index,
                            s.offset, s.filesz, size));
  if (s.filesz > s.memsz)
    return Fail(fmt::format("ELF segment {} has filesz {:#x} > memsz {:#x}", index, s.filesz, s.memsz));
  if (!add(s.paddr, s.memsz))
    return Fail(fmt::format("ELF segment {} at {:#x}+{:#x} wraps the address space", index, s.paddr, s.memsz));
  return s;
}

std::expected<std::vector<ElfSegment>, std::string> load_segments(Elf* elf, std::size_t phnum, std::size_t size) {
  std::vector<ElfSegment> segments;
  for (std::size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, static_cast<int>(i), &ph))
      return Fail(fmt::format("ELF program header {} unreadable: {}", i, elf_errmsg(-1)));
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    auto seg = check_load(ph, i, size);
    if (!seg) return Fail(seg.error());
    if (segments.size() == kMaxLoadSegments)
      return Fail(fmt::format("ELF has more than {} PT_LOAD segments", kMaxLoadSegments));
    segments.push_back(*seg);
  }
  if (segments.empty()) return Fail("ELF has no PT_LOAD segment");
  return segments;
}

// Notes may live in PT_NOTE segments and in SHT_NOTE sections; both are bounds-checked here.
std::expected<std::size_t, std::string> notes_at(std::span<const std::byte> file, std::uint64_t off,
                                                 std::uint64_t len, std::uint64_t align, XenNotes& out) {
  const auto end = add(off, len);
  if (!end || *end > file.size())
    return Fail(fmt::format("ELF note area {:#x}+{:#x} lies outside the {}-byte file", off, len, file.size()));
  return parse_xen_notes(file.subspan(off, len), align, out);
}

std::expected<std::size_t, std::string> segment_notes(Elf* elf, std::span<const std::byte> file,
                                                      std::size_t phnum, XenNotes& out) {
  std::size_t found = 0;
  for (std::size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, static_cast<int>(i), &ph) || ph.p_type != PT_NOTE) continue;
    auto n = notes_at(file, ph.p_offset, ph.p_filesz, ph.p_align, out);
    if (!n) return n;
    found += *n;
  }
  return found;
}

std::expected<std::size_t, std::string> section_notes(Elf* elf, std::span<const std::byte> file, XenNotes& out) {
  std::size_t found = 0;
  Elf_Scn* scn = nullptr;
  // elf_nextscn walks libelf's validated section table, so the walk is bounded by e_shnum.
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE) continue;
    auto n = notes_at(file, sh.sh_offset, sh.sh_size, sh.sh_addralign, out);
    if (!n) return n;
    found += *n;
  }
  return found;
}

// Xen's rule: without an align in the note, a p_align of at least 4 KiB wins over 2 MiB.
std::optional<std::string> settle_reloc(std::optional<PhysReloc>& reloc, std::uint64_t max_align) {
  if (!reloc) return std::nullopt;
  if (reloc->align == 0) reloc->align = max_align >= 0x1000 && max_align <= 0x80000000u
                                            ? static_cast<std::uint32_t>(max_align) : kDefaultRelocAlign;
  if ((reloc->align & (reloc->align - 1)) != 0 || reloc->align < 0x1000)
    return fmt::format("XEN_ELFNOTE_PHYS32_RELOC align {:#x} is not a power of two of at least 4 KiB",
                       reloc->align);
  if (reloc->min > reloc->max)
    return fmt::format("XEN_ELFNOTE_PHYS32_RELOC min {:#x} is above max {:#x}", reloc->min, reloc->max);
  return std::nullopt;
}

}  // namespace

bool is_elf(std::span<const std::byte> bytes) {
  return bytes.size() >= SELFMAG && std::memcmp(bytes.data(), ELFMAG, SELFMAG) == 0;
}

std::span<const std::byte> ElfImage::file_bytes(const ElfSegment& seg) const {
  return std::span<const std::byte>(bytes_).subspan(seg.offset, seg.filesz);
}

std::uint64_t ElfImage::phys_start() const {
  std::uint64_t lo = UINT64_MAX;
  for (const auto& s : segments_) lo = std::min(lo, s.paddr);
  return lo;
}

std::uint64_t ElfImage::phys_end() const {
  std::uint64_t hi = 0;
  for (const auto& s : segments_) hi = std::max(hi, s.paddr + s.memsz);
  return hi;
}

std::expected<ElfImage, std::string> parse_elf(std::vector<std::byte> bytes) {
  if (!is_elf(bytes)) return Fail("not an ELF file (bad magic)");
  elf_version(EV_CURRENT);
  // libelf only reads the buffer for a native-endian image; the cast is for its C signature.
  ElfHandle elf(elf_memory(reinterpret_cast<char*>(bytes.data()), bytes.size()));
  GElf_Ehdr eh;
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF || !gelf_getehdr(elf.get(), &eh))
    return Fail(fmt::format("malformed ELF header: {}", elf_errmsg(-1)));
  if (auto err = check_header(elf.get(), eh, bytes.size())) return Fail(*err);
  ElfImage img;
  img.is_64bit_ = gelf_getclass(elf.get()) == ELFCLASS64;
  img.machine_ = eh.e_machine;
  img.elf_entry_ = eh.e_entry;
  std::size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0) return Fail(fmt::format("bad ELF program headers: {}", elf_errmsg(-1)));
  auto segments = load_segments(elf.get(), phnum, bytes.size());
  if (!segments) return Fail(segments.error());
  img.segments_ = std::move(*segments);
  auto found = segment_notes(elf.get(), bytes, phnum, img.notes_);
  if (found && *found == 0) found = section_notes(elf.get(), bytes, img.notes_);
  if (!found) return Fail(found.error());
  if (!img.notes_.phys32_entry) return Fail("not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY");
  std::uint64_t max_align = 0;
  for (const auto& seg : img.segments_) max_align = std::max(max_align, seg.align);
  if (auto err = settle_reloc(img.notes_.phys32_reloc, max_align)) return Fail(*err);
  img.bytes_ = std::move(bytes);
  return img;
}

}  // namespace kxen::boot
