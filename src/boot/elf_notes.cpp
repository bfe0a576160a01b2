#include "boot/elf_notes.hpp"

#include <xen/elfnote.h>

#include <cstring>
#include <fmt/format.h>
#include <optional>

namespace kxen::boot {

namespace {

struct Note {
  std::uint32_t type = 0;
  std::string_view name;            // without the terminating NUL
  std::span<const std::byte> desc;
};

std::uint32_t le32(std::span<const std::byte> b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, sizeof v);  // x86 ELF is little-endian, like the host
  return v;
}

std::uint64_t round_up(std::uint64_t v, std::uint64_t align) { return (v + align - 1) / align * align; }

// Reads the note at `pos`; advances pos past its padding. All sizes checked against the area.
std::expected<Note, std::string> next_note(std::span<const std::byte> area, std::uint64_t& pos,
                                           std::uint64_t align) {
  const std::uint64_t left = area.size() - pos;
  if (left < 12) return std::unexpected(fmt::format("ELF note at offset {:#x} is truncated", pos));
  const std::uint64_t namesz = le32(area, pos), descsz = le32(area, pos + 4);
  const std::uint64_t name_at = pos + 12;
  // Padding aligns the offsets, not the sizes: with 8-byte notes a 4-byte name needs none.
  const std::uint64_t desc_at = round_up(name_at + namesz, align);
  const std::uint64_t end = round_up(desc_at + descsz, align);
  if (desc_at + descsz > area.size())
    return std::unexpected(fmt::format("ELF note at offset {:#x} (name {} bytes, value {} bytes) overruns "
                                       "its {}-byte note area", pos, namesz, descsz, area.size()));
  Note note;
  note.type = le32(area, pos + 8);
  const char* name = reinterpret_cast<const char*>(area.data() + name_at);
  note.name = std::string_view(name, strnlen(name, namesz));
  note.desc = area.subspan(desc_at, descsz);
  pos = std::min<std::uint64_t>(end, area.size());  // the last note's padding may be absent
  return note;
}

const char* note_name(std::uint32_t type) {
  switch (type) {
    case XEN_ELFNOTE_PHYS32_ENTRY: return "XEN_ELFNOTE_PHYS32_ENTRY";
    case XEN_ELFNOTE_HYPERCALL_PAGE: return "XEN_ELFNOTE_HYPERCALL_PAGE";
    case XEN_ELFNOTE_VIRT_BASE: return "XEN_ELFNOTE_VIRT_BASE";
    default: return "Xen ELF note";
  }
}

// Xen encodes numbers as 1, 2, 4 or 8 byte little-endian values.
std::expected<std::uint64_t, std::string> numeric(const Note& n) {
  const std::size_t size = n.desc.size();
  if (size != 1 && size != 2 && size != 4 && size != 8)
    return std::unexpected(fmt::format("{} ({}) has a {}-byte value; expected 1, 2, 4 or 8 bytes",
                                       note_name(n.type), n.type, size));
  std::uint64_t v = 0;
  std::memcpy(&v, n.desc.data(), size);
  return v;
}

// Printable text up to the first NUL; bounded so a huge note cannot bloat logs.
std::string text(const Note& n) {
  std::string s;
  for (std::size_t i = 0; i < n.desc.size() && i < 256; ++i) {
    const auto c = static_cast<unsigned char>(n.desc[i]);
    if (c == 0) break;
    s.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  return s;
}

std::expected<std::uint32_t, std::string> phys32_entry(const Note& n) {
  auto v = numeric(n);
  if (!v) return std::unexpected(v.error());
  if (*v > 0xffffffffull)
    return std::unexpected(fmt::format("XEN_ELFNOTE_PHYS32_ENTRY {:#x} is not a 32-bit address", *v));
  return static_cast<std::uint32_t>(*v);
}

// align, min, max as 32-bit words; absent trailing fields keep their defaults.
PhysReloc phys32_reloc(const Note& n) {
  PhysReloc r;
  const std::size_t words = n.desc.size() / 4;
  if (words >= 1) r.align = le32(n.desc, 0);
  if (words >= 2) r.min = le32(n.desc, 4);
  if (words >= 3) r.max = le32(n.desc, 8);
  return r;
}

std::optional<std::string> apply(const Note& n, XenNotes& out) {
  switch (n.type) {
    case XEN_ELFNOTE_PHYS32_ENTRY: {
      auto v = phys32_entry(n);
      if (!v) return v.error();
      out.phys32_entry = *v;
      return std::nullopt;
    }
    case XEN_ELFNOTE_PHYS32_RELOC: out.phys32_reloc = phys32_reloc(n); return std::nullopt;
    case XEN_ELFNOTE_HYPERCALL_PAGE:
    case XEN_ELFNOTE_VIRT_BASE: {
      auto v = numeric(n);
      if (!v) return v.error();
      (n.type == XEN_ELFNOTE_VIRT_BASE ? out.virt_base : out.hypercall_page) = *v;
      return std::nullopt;
    }
    case XEN_ELFNOTE_GUEST_OS: out.guest_os = text(n); return std::nullopt;
    case XEN_ELFNOTE_GUEST_VERSION: out.guest_version = text(n); return std::nullopt;
    case XEN_ELFNOTE_XEN_VERSION: out.xen_version = text(n); return std::nullopt;
    case XEN_ELFNOTE_LOADER: out.loader = text(n); return std::nullopt;
    case XEN_ELFNOTE_FEATURES: out.features = text(n); return std::nullopt;
    default: return std::nullopt;  // notes a PVH loader does not need
  }
}

}  // namespace

std::expected<std::size_t, std::string> parse_xen_notes(std::span<const std::byte> area,
                                                        std::uint64_t align, XenNotes& out) {
  if (align != 8) align = 4;
  std::size_t found = 0;
  // Each note consumes at least 12 bytes, so this loop ends.
  for (std::uint64_t pos = 0; pos < area.size();) {
    auto note = next_note(area, pos, align);
    if (!note) return std::unexpected(note.error());
    if (note->name != "Xen") continue;
    if (auto err = apply(*note, out)) return std::unexpected(*err);
    ++found;
  }
  return found;
}

}  // namespace kxen::boot
