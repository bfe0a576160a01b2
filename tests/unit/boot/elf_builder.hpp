// Test helper: builds small x86 ELF images (segments, Xen notes) as bytes, for the loader tests.
#pragma once

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kxen::boot::test {

struct TestSegment {
  std::uint64_t paddr = 0;
  std::vector<std::byte> data;
  std::uint64_t memsz = 0;  // 0: same as data.size()
  std::uint64_t align = 0x200000;
  std::uint32_t flags = PF_R | PF_X;
};

struct TestNote {
  std::string name;
  std::uint32_t type = 0;
  std::vector<std::byte> desc;
};

inline std::vector<std::byte> le_bytes(std::uint64_t v, std::size_t n) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::byte((v >> (8 * i)) & 0xff);
  return out;
}

inline TestNote xen_note(std::uint32_t type, std::uint64_t value, std::size_t size = 4) {
  return {"Xen", type, le_bytes(value, size)};
}

inline TestNote xen_text_note(std::uint32_t type, const std::string& text) {
  TestNote n{"Xen", type, {}};
  for (char c : text) n.desc.push_back(std::byte(c));
  n.desc.push_back(std::byte{0});
  return n;
}

inline std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::byte(static_cast<std::uint8_t>(seed + i * 7));
  return out;
}

// Layout: ELF header | program headers | note area | segment data | [section headers + shstrtab].
class ElfBuilder {
 public:
  bool class64 = true;
  std::uint16_t machine = EM_X86_64;
  std::uint64_t entry = 0;
  std::vector<TestSegment> segments;
  std::vector<TestNote> notes;
  bool notes_in_section = false;  // SHT_NOTE section instead of a PT_NOTE segment

  std::vector<std::byte> build() const { return class64 ? build_as<Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr>() : build_as<Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr>(); }

  // File offset of program header i in what build() returns.
  std::size_t phdr_offset(std::size_t i) const {
    return (class64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)) + i * (class64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr));
  }
  std::size_t note_offset() const { return phdr_offset(phdr_count()); }

 private:
  std::size_t phdr_count() const { return segments.size() + (notes.empty() || notes_in_section ? 0 : 1); }

  std::vector<std::byte> note_area() const {
    std::vector<std::byte> out;
    auto put = [&](const std::vector<std::byte>& b, bool pad) {
      out.insert(out.end(), b.begin(), b.end());
      while (pad && out.size() % 4) out.push_back(std::byte{0});
    };
    for (const auto& n : notes) {
      std::vector<std::byte> name(n.name.size() + 1);
      std::memcpy(name.data(), n.name.c_str(), n.name.size() + 1);
      put(le_bytes(name.size(), 4), false);
      put(le_bytes(n.desc.size(), 4), false);
      put(le_bytes(n.type, 4), false);
      put(name, true);
      put(n.desc, true);
    }
    return out;
  }

  template <class Ehdr, class Phdr, class Shdr>
  std::vector<std::byte> build_as() const {
    const auto notes_bytes = note_area();
    std::vector<std::byte> file(note_offset());
    file.insert(file.end(), notes_bytes.begin(), notes_bytes.end());
    std::vector<Phdr> ph;
    for (const auto& s : segments) {
      while (file.size() % 16) file.push_back(std::byte{0});
      Phdr p{};
      p.p_type = PT_LOAD;
      p.p_offset = file.size();
      p.p_paddr = p.p_vaddr = s.paddr;
      p.p_filesz = s.data.size();
      p.p_memsz = s.memsz ? s.memsz : s.data.size();
      p.p_align = s.align;
      p.p_flags = s.flags;
      ph.push_back(p);
      file.insert(file.end(), s.data.begin(), s.data.end());
    }
    if (!notes.empty() && !notes_in_section) {
      Phdr p{};
      p.p_type = PT_NOTE;
      p.p_offset = note_offset();
      p.p_filesz = p.p_memsz = notes_bytes.size();
      p.p_align = 4;
      ph.push_back(p);
    }
    Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = class64 ? ELFCLASS64 : ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry;
    eh.e_phoff = sizeof(Ehdr);
    eh.e_ehsize = sizeof(Ehdr);
    eh.e_phentsize = sizeof(Phdr);
    eh.e_phnum = static_cast<std::uint16_t>(ph.size());
    if (notes_in_section) add_sections<Ehdr, Shdr>(file, eh, notes_bytes.size());
    std::memcpy(file.data(), &eh, sizeof eh);
    std::memcpy(file.data() + sizeof eh, ph.data(), ph.size() * sizeof(Phdr));
    return file;
  }

  // Section table: null, .notes (SHT_NOTE over the note area), .shstrtab.
  template <class Ehdr, class Shdr>
  void add_sections(std::vector<std::byte>& file, Ehdr& eh, std::size_t notes_size) const {
    const char names[] = "\0.notes\0.shstrtab";
    const std::size_t strtab = file.size();
    for (char c : names) file.push_back(std::byte(c));
    while (file.size() % 8) file.push_back(std::byte{0});
    Shdr sh[3]{};
    sh[1].sh_name = 1;
    sh[1].sh_type = SHT_NOTE;
    sh[1].sh_offset = note_offset();
    sh[1].sh_size = notes_size;
    sh[1].sh_addralign = 4;
    sh[2].sh_name = 8;
    sh[2].sh_type = SHT_STRTAB;
    sh[2].sh_offset = strtab;
    sh[2].sh_size = sizeof names;
    eh.e_shoff = file.size();
    eh.e_shentsize = sizeof(Shdr);
    eh.e_shnum = 3;
    eh.e_shstrndx = 2;
    const auto* raw = reinterpret_cast<const std::byte*>(sh);
    file.insert(file.end(), raw, raw + sizeof sh);
  }
};

}  // namespace kxen::boot::test
