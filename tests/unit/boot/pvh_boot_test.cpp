// The loader's entry point from files: kernel formats, file errors, the whole boot image.
#include <catch2/catch.hpp>

#include <xen/elfnote.h>

#include "boot/kernel_file.hpp"
#include "boot/pvh_boot.hpp"
#include "compress_fixtures.hpp"
#include "elf_builder.hpp"
#include "temp_dir.hpp"

using namespace kxen::boot;
using namespace kxen::boot::test;
using kxen::GuestMemory;

namespace {

constexpr std::uint64_t MiB = 1ull << 20;

std::vector<std::byte> small_kernel() {
  ElfBuilder b;
  b.segments.push_back({0x1000000, pattern(0x4000, 5), 0x6000});
  b.notes.push_back(xen_text_note(XEN_ELFNOTE_GUEST_OS, "linux"));
  b.notes.push_back(xen_note(XEN_ELFNOTE_PHYS32_ENTRY, 0x1000100, 8));
  return b.build();
}

struct Guest {
  BootConfig config;
  GuestMemory mem;
  Guest() {
    config.layout = *ram_layout(64 * MiB, 1ull << 40);
    for (const auto& r : config.layout.ram) REQUIRE_FALSE(mem.add_ram(r.gpa, r.size).has_value());
  }
};

}  // namespace

TEST_CASE("file errors name the path and what went wrong", "[boot]") {
  TempDir dir;
  const auto missing = dir.file("nope");
  auto r = load_kernel_file(missing);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error(), Catch::StartsWith(missing + ": no such file"));
  auto d = load_kernel_file(dir.file(""));
  REQUIRE_FALSE(d.has_value());
  CHECK_THAT(d.error(), Catch::Contains("is a directory"));
  const auto empty = dir.write("empty", {});
  CHECK(load_kernel_file(empty).error() == empty + ": empty file");
  const auto text = dir.write("text", std::as_bytes(std::span("hello, this is not a kernel at all", 34)));
  CHECK(load_kernel_file(text).error() == text + ": neither an ELF nor a Linux bzImage");
  auto big = read_host_file(text, 10);
  REQUIRE_FALSE(big.has_value());
  CHECK_THAT(big.error(), Catch::Contains("larger than"));
  CHECK_FALSE(read_host_file("/dev/null", 10).has_value());
}

TEST_CASE("kernel files: ELF and bzImage are classified and parsed", "[boot]") {
  TempDir dir;
  const auto elf = small_kernel();
  const auto elf_path = dir.write("vmlinux", elf);
  auto plain = load_kernel_file(elf_path);
  REQUIRE(plain.has_value());
  CHECK(plain->phys32_entry() == 0x1000100);
  auto packed = zstd_bytes(elf);
  append_le32(packed, static_cast<std::uint32_t>(elf.size()));
  const auto bz = make_bzimage(packed);
  CHECK(classify_kernel(bz) == KernelFormat::bzimage);
  CHECK(classify_kernel(elf) == KernelFormat::elf);
  auto unpacked = load_kernel_file(dir.write("vmlinuz", bz));
  REQUIRE(unpacked.has_value());
  CHECK(unpacked->notes().guest_os == "linux");
  ElfBuilder no_pvh;
  no_pvh.segments.push_back({0x1000000, pattern(16, 1)});
  const auto not_pvh = dir.write("not-pvh", no_pvh.build());
  CHECK(load_kernel_file(not_pvh).error() == not_pvh + ": not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY");
}

TEST_CASE("load_pvh_guest: kernel, initrd and start_info in guest memory", "[boot]") {
  TempDir dir;
  Guest g;
  g.config.kernel_path = dir.write("vmlinux", small_kernel());
  const auto initrd = pattern(200000, 3);
  g.config.initrd_path = dir.write("initrd", initrd);
  g.config.cmdline = "console=hvc0";
  g.config.rsdp_gpa = kAcpiBase;
  auto boot = load_pvh_guest(g.mem, g.config);
  REQUIRE(boot.has_value());
  CHECK(boot->entry == 0x1000100);
  CHECK(boot->start_info == kStartInfoGpa);
  CHECK(boot->kernel == GpaRange{0x1000000, 0x1006000});
  REQUIRE(boot->initrd.has_value());
  CHECK(boot->initrd->size() == initrd.size());
  CHECK(boot->initrd->start >= boot->kernel.end);
  CHECK(boot->e820 == g.config.layout.e820);
  CHECK(boot->special.console_pfn() == g.config.layout.special.console_pfn());
  CHECK_FALSE(boot->elf_class32);
  CHECK_FALSE(boot->relocated);
  auto si = g.mem.read_obj<hvm_start_info>(boot->start_info);
  REQUIRE(si.has_value());
  CHECK(si->magic == XEN_HVM_START_MAGIC_VALUE);
  CHECK(si->rsdp_paddr == kAcpiBase);
  auto mod = g.mem.read_obj<hvm_modlist_entry>(si->modlist_paddr);
  CHECK(mod->paddr == boot->initrd->start);
  std::vector<std::byte> back(initrd.size());
  REQUIRE(g.mem.read(boot->initrd->start, back));
  CHECK(back == initrd);
}

TEST_CASE("load_pvh_guest refuses bad input before touching the kernel", "[boot]") {
  TempDir dir;
  Guest g;
  g.config.kernel_path = dir.file("missing-kernel");
  g.config.cmdline = std::string(3000, 'a');
  CHECK(load_pvh_guest(g.mem, g.config).error() == "command line is 3000 bytes; the limit is 2047");
  g.config.cmdline.clear();
  CHECK_THAT(load_pvh_guest(g.mem, g.config).error(), Catch::Contains("missing-kernel: no such file"));
  g.config.kernel_path = dir.write("vmlinux", small_kernel());
  g.config.initrd_path = dir.file("missing-initrd");
  CHECK_THAT(load_pvh_guest(g.mem, g.config).error(), Catch::Contains("missing-initrd: no such file"));
  GuestMemory unregistered;
  g.config.initrd_path.reset();
  CHECK_THAT(load_pvh_guest(unregistered, g.config).error(), Catch::Contains("is not registered"));
}
