// The kernel cache: keys, whole-or-nothing entries, damage falls back to unpacking, pruning.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <xen/elfnote.h>

#include "boot/kernel_cache.hpp"
#include "boot/kernel_file.hpp"
#include "compress_fixtures.hpp"
#include "elf_builder.hpp"
#include "temp_dir.hpp"

using namespace kxen::boot;
using namespace kxen::boot::test;
namespace fs = std::filesystem;

namespace {

Sha256 key_of(std::span<const std::byte> bytes) {
  const auto key = sha256_of(bytes);
  REQUIRE(key.has_value());
  return *key;
}

std::vector<std::byte> kernel_with_entry(std::uint32_t entry) {
  ElfBuilder b;
  b.segments.push_back({0x1000000, pattern(0x3000, 7), 0x4000});
  b.notes.push_back(xen_text_note(XEN_ELFNOTE_GUEST_OS, "linux"));
  b.notes.push_back(xen_note(XEN_ELFNOTE_PHYS32_ENTRY, entry, 8));
  return b.build();
}

std::vector<std::byte> bzimage_of(const std::vector<std::byte>& elf) {
  auto packed = zstd_bytes(elf);
  append_le32(packed, static_cast<std::uint32_t>(elf.size()));
  return make_bzimage(packed);
}

std::size_t entries_in(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".vmlinux";
  return n;
}

fs::path only_entry(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".vmlinux") return e.path();
  FAIL("no cache entry in " << dir);
  return {};
}

// Overwrites an entry as a damaged disk or another program would, keeping its name.
void overwrite(const fs::path& path, std::span<const std::byte> bytes, std::size_t keep_header_bytes = 0) {
  std::vector<char> head(keep_header_bytes);
  if (keep_header_bytes) std::ifstream(path, std::ios::binary).read(head.data(), static_cast<std::streamsize>(head.size()));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(head.data(), static_cast<std::streamsize>(head.size()));
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A cache in a fresh directory holding one stored entry.
struct OneEntry {
  explicit OneEntry(std::vector<std::byte> bytes)
      : cache(tmp.file("c")), data(std::move(bytes)), key(key_of(data)) {
    REQUIRE_FALSE(cache.create_dir().has_value());
    cache.store(key, data);
    path = only_entry(cache.dir());
  }
  TempDir tmp;
  KernelCache cache;
  std::vector<std::byte> data;
  Sha256 key;
  fs::path path;
};

}  // namespace

TEST_CASE("SHA-256 keys match the standard test vectors", "[boot]") {
  CHECK(hex(key_of({})) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(key_of(std::as_bytes(std::span("abc", 3)))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("kernel cache: a stored vmlinux comes back whole, other keys miss", "[boot]") {
  TempDir tmp;
  KernelCache cache(fs::path(tmp.file("cache")) / "kernels");
  REQUIRE_FALSE(cache.create_dir().has_value());
  const auto data = pattern(5000, 3);
  const auto key = key_of(data);
  CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
  cache.store(key, data);
  auto hit = cache.lookup(key, 1 << 20);
  REQUIRE(hit.has_value());
  CHECK(*hit == data);
  CHECK_FALSE(cache.lookup(key_of(pattern(10, 1)), 1 << 20).has_value());
  CHECK_FALSE(cache.lookup(key, 4999).has_value());  // longer than the caller's bound
  cache.forget(key);
  CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
}

TEST_CASE("kernel cache: short, foreign or over-long entries are misses", "[boot]") {
  OneEntry e(pattern(4096, 9));
  auto& [tmp, cache, data, key, path] = e;
  overwrite(path, std::span(data).first(100), 16);  // header kept, body cut short
  CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
  cache.store(key, data);
  overwrite(path, pattern(4096 + 16, 1));  // no header at all
  CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
  cache.store(key, data);
  auto longer = data;
  longer.push_back(std::byte{0});
  overwrite(path, longer, 16);  // one byte more than the header says
  CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
  overwrite(path, {});
  CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
}

TEST_CASE("kernel cache: an entry others could have written is not used", "[boot]") {
  OneEntry e(pattern(4096, 5));
  auto& [tmp, cache, data, key, path] = e;
  REQUIRE(cache.lookup(key, 1 << 20).has_value());
  fs::permissions(path, fs::perms::group_write, fs::perm_options::add);
  CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
  fs::permissions(path, fs::perms::group_write, fs::perm_options::remove);
  fs::permissions(path, fs::perms::others_write, fs::perm_options::add);
  CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
  fs::permissions(path, fs::perms::others_write, fs::perm_options::remove);
  REQUIRE(cache.lookup(key, 1 << 20).has_value());
  if (geteuid() == 0) {  // only root can give the entry to another user
    REQUIRE(chown(path.c_str(), 65534, 65534) == 0);
    CHECK_FALSE(cache.lookup(key, 1 << 20).has_value());
  }
}

TEST_CASE("load_kernel_file: a bzImage is unpacked once, then served from the cache", "[boot]") {
  TempDir tmp;
  KernelCache cache(tmp.file("cache"));
  REQUIRE_FALSE(cache.create_dir().has_value());
  const auto elf = kernel_with_entry(0x1000100);
  const auto bz = bzimage_of(elf);
  const auto path = tmp.write("vmlinuz", bz);
  auto first = load_kernel_file(path, &cache);
  REQUIRE(first.has_value());
  CHECK(first->phys32_entry() == 0x1000100);
  const auto entry = only_entry(cache.dir());
  CHECK(entry.filename() == hex(key_of(bz)) + ".vmlinux");
  CHECK(cache.lookup(key_of(bz), 1 << 30) == elf);

  // The entry is what a second boot uses: swap in another valid kernel and see it load.
  cache.store(key_of(bz), kernel_with_entry(0x1000200));
  auto second = load_kernel_file(path, &cache);
  REQUIRE(second.has_value());
  CHECK(second->phys32_entry() == 0x1000200);

  // An entry that is no ELF is dropped, the bzImage unpacked again and the entry rewritten.
  cache.store(key_of(bz), pattern(64, 2));
  auto third = load_kernel_file(path, &cache);
  REQUIRE(third.has_value());
  CHECK(third->phys32_entry() == 0x1000100);
  CHECK(cache.lookup(key_of(bz), 1 << 30) == elf);

  // ELF kernels need no unpacking and are never cached.
  REQUIRE(load_kernel_file(tmp.write("vmlinux", elf), &cache).has_value());
  CHECK(entries_in(cache.dir()) == 1);
}

TEST_CASE("load_kernel_file: a corrupt bzImage is an error with a cache too, and stores nothing", "[boot]") {
  TempDir tmp;
  KernelCache cache(tmp.file("cache"));
  REQUIRE_FALSE(cache.create_dir().has_value());
  auto bz = bzimage_of(kernel_with_entry(0x1000100));
  bz.resize(bz.size() - 0x40 - 10);  // past the trailing 0x40 bytes: payload and size word cut short
  const auto path = tmp.write("vmlinuz", bz);
  auto r = load_kernel_file(path, &cache);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error(), Catch::StartsWith(path + ": "));
  CHECK(entries_in(cache.dir()) == 0);
}

TEST_CASE("kernel cache: the newest entries are kept, stale temporary files removed", "[boot]") {
  TempDir tmp;
  KernelCache cache(tmp.file("c"), 3);
  REQUIRE_FALSE(cache.create_dir().has_value());
  const auto stale = cache.dir() / ".tmp-abc123";
  std::ofstream(stale) << "left by a killed kxen";
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));
  const auto fresh = cache.dir() / ".tmp-def456";
  std::ofstream(fresh) << "being written right now";
  std::vector<Sha256> keys;
  for (std::uint8_t i = 0; i < 5; ++i) {
    keys.push_back(key_of(pattern(100, i)));
    cache.store(keys.back(), pattern(100, i));
    // Distinct, increasing times: file systems with coarse timestamps would tie otherwise.
    fs::last_write_time(cache.dir() / (hex(keys.back()) + ".vmlinux"),
                        fs::file_time_type::clock::now() - std::chrono::minutes(10 - i));
  }
  CHECK(entries_in(cache.dir()) == 3);
  CHECK_FALSE(cache.lookup(keys[0], 1 << 20).has_value());
  CHECK_FALSE(cache.lookup(keys[1], 1 << 20).has_value());
  CHECK(cache.lookup(keys[4], 1 << 20).has_value());
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(fresh));
}

TEST_CASE("kernel cache: where it lives, and a directory that cannot be made", "[boot]") {
  TempDir tmp;
  const auto* xdg = std::getenv("XDG_CACHE_HOME");
  const auto* home = std::getenv("HOME");
  const std::string saved_xdg = xdg ? xdg : "", saved_home = home ? home : "";
  setenv("XDG_CACHE_HOME", "/x/cache", 1);
  CHECK(KernelCache::default_dir() == fs::path("/x/cache/kxen/kernels"));
  setenv("XDG_CACHE_HOME", "relative", 1);  // the XDG spec says to ignore relative paths
  setenv("HOME", "/home/u", 1);
  CHECK(KernelCache::default_dir() == fs::path("/home/u/.cache/kxen/kernels"));
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  CHECK_FALSE(KernelCache::default_dir().has_value());
  if (xdg) setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
  if (home) setenv("HOME", saved_home.c_str(), 1);

  const auto file = tmp.write("plain-file", pattern(4, 1));
  KernelCache under_file(fs::path(file) / "kernels");
  auto err = under_file.create_dir();
  REQUIRE(err.has_value());
  CHECK_THAT(*err, Catch::StartsWith(file + "/kernels: cannot create the kernel cache directory"));
  under_file.store(key_of(pattern(4, 1)), pattern(4, 1));  // best effort: no throw, nothing written
  CHECK_FALSE(under_file.lookup(key_of(pattern(4, 1)), 1 << 20).has_value());
}
