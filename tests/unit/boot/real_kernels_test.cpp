// Debian's real 6.1 (xz) and 6.12 (zstd) kernels: unpacked here, cross-checked with readelf.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>

#include "boot/bzimage.hpp"
#include "boot/kernel_file.hpp"
#include "boot/pvh_boot.hpp"
#include "temp_dir.hpp"

using namespace kxen::boot;
using namespace kxen::boot::test;

namespace {

std::string kernel_dir() {
  if (const char* d = std::getenv("KXEN_KERNEL_DIR")) return d;
  const char* cache = std::getenv("KXEN_CACHE");
  return std::string(cache ? cache : "/var/cache/kxen") + "/kernels";
}

// The vmlinuz whose name starts with `prefix`; a missing kernel fails the test, never skips it.
std::string find_kernel(const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kernel_dir(), ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) return e.path().string();
  FAIL("no " << prefix << "* in " << kernel_dir() << ": run tests/fetch-kernels (or set KXEN_KERNEL_DIR)");
  return {};
}

std::string run(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  return out;
}

// readelf -n prints Xen notes as "Unknown note type: (0x00000012)" with the value's bytes.
std::optional<std::vector<unsigned>> readelf_note(const std::string& notes, unsigned type) {
  std::istringstream lines(notes);
  char tag[16];
  std::snprintf(tag, sizeof tag, "0x%08x", type);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("Xen") == std::string::npos || line.find(tag) == std::string::npos) continue;
    const auto at = line.find("description data:");
    if (at == std::string::npos) continue;
    std::istringstream hex(line.substr(at + 17));
    std::vector<unsigned> bytes;
    for (unsigned b; hex >> std::hex >> b;) bytes.push_back(b);
    return bytes;
  }
  return std::nullopt;
}

std::uint64_t le_value(const std::vector<unsigned>& bytes, std::size_t from, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n && from + i < bytes.size(); ++i) v |= std::uint64_t{bytes[from + i]} << (8 * i);
  return v;
}

void check_kernel(const std::string& path, Compression expected) {
  INFO(path);
  auto file = read_host_file(path, kMaxKernelFile);
  REQUIRE(file.has_value());
  auto header = parse_bzimage(*file);
  REQUIRE(header.has_value());
  CHECK(detect_compression(std::span(*file).subspan(header->payload_offset)) == expected);
  auto vmlinux = extract_vmlinux(*file);
  REQUIRE(vmlinux.has_value());
  TempDir dir;
  const auto elf_path = dir.write("vmlinux", *vmlinux);
  auto elf = parse_elf(std::move(*vmlinux));
  REQUIRE(elf.has_value());
  const auto notes = run("readelf -n --wide '" + elf_path + "'");
  const auto entry = readelf_note(notes, 18);
  REQUIRE(entry.has_value());
  CHECK(elf->phys32_entry() == le_value(*entry, 0, entry->size()));
  const auto reloc = readelf_note(notes, 19);
  REQUIRE(elf->notes().phys32_reloc.has_value() == reloc.has_value());
  if (reloc) {
    CHECK(elf->notes().phys32_reloc->align == le_value(*reloc, 0, 4));
    CHECK(elf->notes().phys32_reloc->min == le_value(*reloc, 4, 4));
    CHECK(elf->notes().phys32_reloc->max == le_value(*reloc, 8, 4));
  }
  CHECK(elf->notes().guest_os == "linux");
  CHECK(elf->is_64bit());
  const auto loads = run("readelf -lW '" + elf_path + "' | grep -c ' LOAD '");
  CHECK(std::to_string(elf->segments().size()) + "\n" == loads);
}

}  // namespace

TEST_CASE("Debian 6.1 kernel (xz): vmlinux and PVH notes match readelf", "[boot][real-kernel]") {
  check_kernel(find_kernel("vmlinuz-6.1."), Compression::xz);
}

TEST_CASE("Debian 6.12 kernel (zstd, relocatable): vmlinux and PVH notes match readelf", "[boot][real-kernel]") {
  check_kernel(find_kernel("vmlinuz-6.12."), Compression::zstd);
}

TEST_CASE("Debian kernels load into a 256 MiB guest", "[boot][real-kernel]") {
  for (const char* prefix : {"vmlinuz-6.1.", "vmlinuz-6.12."}) {
    const auto path = find_kernel(prefix);
    INFO(path);
    kxen::GuestMemory mem;
    BootConfig config;
    config.kernel_path = path;
    config.cmdline = "console=hvc0 earlyprintk=xen";
    config.layout = *ram_layout(256ull << 20, 1ull << 40);
    for (const auto& r : config.layout.ram) REQUIRE_FALSE(mem.add_ram(r.gpa, r.size).has_value());
    auto boot = load_pvh_guest(mem, config);
    REQUIRE(boot.has_value());
    auto elf = load_kernel_file(path);
    REQUIRE(elf.has_value());
    CHECK(boot->entry == elf->phys32_entry());
    CHECK_FALSE(boot->relocated);
    // The bytes at the entry point in guest memory are the ELF's bytes for that address.
    for (const auto& s : elf->segments()) {
      if (boot->entry < s.paddr || boot->entry >= s.paddr + s.filesz) continue;
      std::vector<std::byte> guest(64);
      REQUIRE(mem.read(boot->entry, guest));
      const auto file = elf->file_bytes(s).subspan(boot->entry - s.paddr, 64);
      CHECK(std::equal(guest.begin(), guest.end(), file.begin()));
    }
  }
}
