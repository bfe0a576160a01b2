// ELF and Xen-note parsing: good images of both classes, and truncated or malicious ones.
#include <catch2/catch.hpp>

#include <xen/elfnote.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "boot/elf_image.hpp"
#include "elf_builder.hpp"

using namespace kxen::boot;
using namespace kxen::boot::test;

namespace {

ElfBuilder pvh_kernel(std::uint32_t entry = 0x1000040) {
  ElfBuilder b;
  b.segments.push_back({0x1000000, pattern(0x1000, 1), 0x3000, 0x200000, PF_R | PF_X});
  b.notes.push_back(xen_text_note(XEN_ELFNOTE_GUEST_OS, "linux"));
  b.notes.push_back({"GNU", XEN_ELFNOTE_PHYS32_ENTRY, le_bytes(0xdead, 4)});  // wrong owner: ignored
  b.notes.push_back(xen_note(XEN_ELFNOTE_PHYS32_ENTRY, entry, 8));
  return b;
}

std::string parse_error(const std::vector<std::byte>& bytes) {
  auto r = parse_elf(bytes);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

template <class T>
void poke(std::vector<std::byte>& b, std::size_t at, T v) {
  REQUIRE(at + sizeof v <= b.size());
  std::memcpy(b.data() + at, &v, sizeof v);
}

}  // namespace

TEST_CASE("ELF64 PVH kernel: segments and Xen notes", "[boot]") {
  auto b = pvh_kernel();
  b.notes.push_back(xen_note(XEN_ELFNOTE_HYPERCALL_PAGE, 0xffffffff81001000ull, 8));
  auto img = parse_elf(b.build());
  REQUIRE(img.has_value());
  CHECK(img->is_64bit());
  CHECK(img->machine() == EM_X86_64);
  CHECK(img->phys32_entry() == 0x1000040);
  CHECK(img->notes().guest_os == "linux");
  CHECK(img->notes().hypercall_page == 0xffffffff81001000ull);
  CHECK_FALSE(img->notes().phys32_reloc.has_value());
  REQUIRE(img->segments().size() == 1);
  const auto& s = img->segments()[0];
  CHECK(s.paddr == 0x1000000);
  CHECK(s.filesz == 0x1000);
  CHECK(s.memsz == 0x3000);
  CHECK(s.flags == (PF_R | PF_X));
  auto bytes = img->file_bytes(s);
  CHECK(std::equal(bytes.begin(), bytes.end(), pattern(0x1000, 1).begin()));
  CHECK(img->phys_start() == 0x1000000);
  CHECK(img->phys_end() == 0x1003000);
}

TEST_CASE("ELF32 i386 PVH kernel parses", "[boot]") {
  auto b = pvh_kernel(0x100000);
  b.class64 = false;
  b.machine = EM_386;
  b.segments[0].paddr = 0x100000;
  auto img = parse_elf(b.build());
  REQUIRE(img.has_value());
  CHECK_FALSE(img->is_64bit());
  CHECK(img->phys32_entry() == 0x100000);
}

TEST_CASE("ELF32 with EM_X86_64 (objcopy -O elf32-x86-64) parses as a 32-bit container", "[boot]") {
  auto b = pvh_kernel(0x100000);
  b.class64 = false;
  b.machine = EM_X86_64;
  b.segments[0].paddr = 0x100000;
  auto img = parse_elf(b.build());
  REQUIRE(img.has_value());
  CHECK_FALSE(img->is_64bit());
  CHECK(img->machine() == EM_X86_64);
  CHECK(img->phys32_entry() == 0x100000);
}

TEST_CASE("Xen notes found in an SHT_NOTE section when there is no PT_NOTE", "[boot]") {
  auto b = pvh_kernel(0x1000123);
  b.notes_in_section = true;
  auto img = parse_elf(b.build());
  REQUIRE(img.has_value());
  CHECK(img->phys32_entry() == 0x1000123);
}

TEST_CASE("missing PHYS32_ENTRY gives the exact not-a-PVH-kernel error", "[boot]") {
  ElfBuilder b;
  b.segments.push_back({0x100000, pattern(64, 2)});
  b.notes.push_back(xen_text_note(XEN_ELFNOTE_GUEST_OS, "linux"));
  CHECK(parse_error(b.build()) == "not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY");
  b.notes.clear();
  CHECK(parse_error(b.build()) == "not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY");
}

TEST_CASE("PHYS32_RELOC fields and Xen's defaults", "[boot]") {
  auto b = pvh_kernel();
  SECTION("all three fields: align, min, max") {
    TestNote n{"Xen", XEN_ELFNOTE_PHYS32_RELOC, le_bytes(0x400000, 4)};
    for (auto v : {0x1000000u, 0x3fffffffu}) {
      auto w = le_bytes(v, 4);
      n.desc.insert(n.desc.end(), w.begin(), w.end());
    }
    b.notes.push_back(n);
    auto img = parse_elf(b.build());
    REQUIRE(img.has_value());
    REQUIRE(img->notes().phys32_reloc.has_value());
    CHECK(img->notes().phys32_reloc->align == 0x400000);
    CHECK(img->notes().phys32_reloc->min == 0x1000000);
    CHECK(img->notes().phys32_reloc->max == 0x3fffffff);
  }
  SECTION("empty note: align from p_align, min 0, max 4 GiB - 1") {
    b.segments[0].align = 0x100000;
    b.notes.push_back({"Xen", XEN_ELFNOTE_PHYS32_RELOC, {}});
    auto img = parse_elf(b.build());
    REQUIRE(img.has_value());
    CHECK(img->notes().phys32_reloc->align == 0x100000);
    CHECK(img->notes().phys32_reloc->min == 0);
    CHECK(img->notes().phys32_reloc->max == 0xffffffff);
  }
  SECTION("empty note and small p_align: 2 MiB") {
    b.segments[0].align = 0x10;
    b.notes.push_back({"Xen", XEN_ELFNOTE_PHYS32_RELOC, {}});
    auto img = parse_elf(b.build());
    REQUIRE(img.has_value());
    CHECK(img->notes().phys32_reloc->align == 0x200000);
  }
  SECTION("align not a power of two") {
    b.notes.push_back(xen_note(XEN_ELFNOTE_PHYS32_RELOC, 0x300000));
    CHECK_THAT(parse_error(b.build()), Catch::Contains("not a power of two"));
  }
  SECTION("min above max") {
    b.notes.push_back({"Xen", XEN_ELFNOTE_PHYS32_RELOC, le_bytes(0x2000000000200000ull, 8)});
    b.notes.back().desc.insert(b.notes.back().desc.end(), {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}});
    CHECK_THAT(parse_error(b.build()), Catch::Contains("min 0x20000000 is above max 0x1000000"));
  }
}

TEST_CASE("wrong machine, class, endianness and magic are refused", "[boot]") {
  auto b = pvh_kernel();
  b.machine = EM_AARCH64;
  CHECK_THAT(parse_error(b.build()), Catch::Contains("not x86-64"));
  b.class64 = false;
  b.machine = EM_ARM;
  CHECK(parse_error(b.build()) == "ELF machine 40 is not i386 (EM_386) or x86-64 (EM_X86_64)");
  auto be = pvh_kernel().build();
  be[EI_DATA] = std::byte{ELFDATA2MSB};
  CHECK_FALSE(parse_elf(be).has_value());
  auto bad = pvh_kernel().build();
  bad[1] = std::byte{'X'};
  CHECK(parse_error(bad) == "not an ELF file (bad magic)");
}

TEST_CASE("no PT_LOAD and too many PT_LOADs are refused", "[boot]") {
  ElfBuilder none;
  none.notes.push_back(xen_note(XEN_ELFNOTE_PHYS32_ENTRY, 0x100000));
  CHECK(parse_error(none.build()) == "ELF has no PT_LOAD segment");
  auto many = pvh_kernel();
  for (std::uint64_t i = 0; i < kMaxLoadSegments; ++i) many.segments.push_back({0x2000000 + i * 0x1000, pattern(16, 3)});
  CHECK_THAT(parse_error(many.build()), Catch::Contains("more than 64 PT_LOAD"));
}

TEST_CASE("malicious program headers are refused", "[boot]") {
  auto b = pvh_kernel();
  const auto ph = b.phdr_offset(0);
  auto file = b.build();
  SECTION("truncated in the program headers") {
    file.resize(ph + 10);
    CHECK_THAT(parse_error(file), Catch::Contains("program headers"));
  }
  SECTION("segment file range past the end") {
    poke<std::uint64_t>(file, ph + offsetof(Elf64_Phdr, p_filesz), file.size());
    poke<std::uint64_t>(file, ph + offsetof(Elf64_Phdr, p_memsz), file.size());
    CHECK_THAT(parse_error(file), Catch::Contains("lies outside the"));
  }
  SECTION("offset + filesz wraps 64 bits") {
    poke<std::uint64_t>(file, ph + offsetof(Elf64_Phdr, p_offset), ~0ull - 8);
    CHECK_THAT(parse_error(file), Catch::Contains("lies outside the"));
  }
  SECTION("filesz > memsz") {
    poke<std::uint64_t>(file, ph + offsetof(Elf64_Phdr, p_memsz), 0x10);
    CHECK_THAT(parse_error(file), Catch::Contains("filesz 0x1000 > memsz 0x10"));
  }
  SECTION("paddr + memsz wraps") {
    poke<std::uint64_t>(file, ph + offsetof(Elf64_Phdr, p_paddr), ~0ull - 0x100);
    CHECK_THAT(parse_error(file), Catch::Contains("wraps the address space"));
  }
  SECTION("phnum beyond the file") {
    poke<std::uint16_t>(file, offsetof(Elf64_Ehdr, e_phnum), 0xfff0);
    CHECK_THAT(parse_error(file), Catch::Contains("program headers"));
  }
  SECTION("extended program header numbering") {
    poke<std::uint16_t>(file, offsetof(Elf64_Ehdr, e_phnum), PN_XNUM);
    CHECK_THAT(parse_error(file), Catch::Contains("extended program header numbering"));
  }
}

TEST_CASE("malicious notes are refused", "[boot]") {
  auto b = pvh_kernel();
  const auto notes = b.note_offset();  // first note: GUEST_OS "linux"
  auto file = b.build();
  SECTION("descsz past the note area") {
    poke<std::uint32_t>(file, notes + 4, 0x7fffffff);
    CHECK_THAT(parse_error(file), Catch::Contains("overruns"));
  }
  SECTION("namesz of 4 GiB - 1") {
    poke<std::uint32_t>(file, notes, 0xffffffff);
    CHECK_THAT(parse_error(file), Catch::Contains("overruns"));
  }
  SECTION("PT_NOTE beyond the file") {
    const auto ph = b.phdr_offset(1);
    poke<std::uint64_t>(file, ph + offsetof(Elf64_Phdr, p_filesz), 1ull << 40);
    CHECK_THAT(parse_error(file), Catch::Contains("note area"));
  }
  SECTION("PHYS32_ENTRY with a 3-byte value") {
    auto odd = pvh_kernel();
    odd.notes.back().desc.resize(3);
    CHECK_THAT(parse_error(odd.build()), Catch::Contains("3-byte value"));
  }
  SECTION("PHYS32_ENTRY above 4 GiB") {
    auto high = pvh_kernel();
    high.notes.back() = xen_note(XEN_ELFNOTE_PHYS32_ENTRY, 0x100000000ull, 8);
    CHECK_THAT(parse_error(high.build()), Catch::Contains("not a 32-bit address"));
  }
}

TEST_CASE("randomly corrupted ELFs never yield out-of-file segments", "[boot]") {
  const auto good = pvh_kernel().build();
  std::mt19937 rng(1234);
  std::size_t accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    auto file = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) file[rng() % 0x200] = std::byte(static_cast<std::uint8_t>(rng()));
    if (rng() % 8 == 0) file.resize(rng() % file.size());
    auto img = parse_elf(file);
    if (!img) continue;
    ++accepted;
    for (const auto& s : img->segments()) {
      REQUIRE(s.offset + s.filesz <= file.size());
      REQUIRE(s.offset + s.filesz >= s.offset);
      REQUIRE(s.filesz <= s.memsz);
    }
  }
  CHECK(accepted > 0);  // some flips hit padding: the good path still runs
}

TEST_CASE("an ordinary host program (8-byte aligned GNU notes) is a non-PVH ELF, not a corrupt one", "[boot]") {
  // This test binary itself: x86-64, PT_NOTE segments with p_align 8 (.note.gnu.property).
  std::ifstream file("/proc/self/exe", std::ios::binary);
  REQUIRE(file);
  std::vector<char> chars((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  auto elf = kxen::boot::parse_elf(std::move(bytes));
  REQUIRE_FALSE(elf.has_value());
  CHECK(elf.error() == "not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY");
}
