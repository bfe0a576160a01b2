// bzImage header parsing and payload extraction on synthetic bzImages of each compressor.
#include <catch2/catch.hpp>

#include <xen/elfnote.h>

#include "boot/bzimage.hpp"
#include "boot/elf_image.hpp"
#include "compress_fixtures.hpp"
#include "elf_builder.hpp"

using namespace kxen::boot;
using namespace kxen::boot::test;

namespace {

std::vector<std::byte> tiny_kernel() {
  ElfBuilder b;
  b.segments.push_back({0x1000000, pattern(0x20000, 4)});
  b.notes.push_back(xen_note(XEN_ELFNOTE_PHYS32_ENTRY, 0x1000200));
  return b.build();
}

std::vector<std::byte> with_trailer(std::vector<std::byte> stream, std::size_t size) {
  append_le32(stream, static_cast<std::uint32_t>(size));
  return stream;
}

}  // namespace

TEST_CASE("bzImage with gzip, xz and zstd payloads yields the vmlinux ELF", "[boot]") {
  const auto elf = tiny_kernel();
  const std::vector<std::vector<std::byte>> payloads = {
      gzip_bytes(elf), with_trailer(xz_bytes(elf), elf.size()), with_trailer(zstd_bytes(elf), elf.size())};
  for (const auto& payload : payloads) {
    const auto image = make_bzimage(payload);
    REQUIRE(is_bzimage(image));
    auto h = parse_bzimage(image);
    REQUIRE(h.has_value());
    CHECK(h->pm_offset == 6 * 512);
    CHECK(h->payload_offset == 6 * 512 + 0x100);
    CHECK(h->payload_length == payload.size());
    auto out = extract_vmlinux(image);
    REQUIRE(out.has_value());
    CHECK(*out == elf);
    auto parsed = parse_elf(*out);
    REQUIRE(parsed.has_value());
    CHECK(parsed->phys32_entry() == 0x1000200);
  }
}

TEST_CASE("setup_sects 0 means 4", "[boot]") {
  const auto image = make_bzimage(gzip_bytes(tiny_kernel()), 0);
  auto h = parse_bzimage(image);
  REQUIRE(h.has_value());
  CHECK(h->setup_sects == 4);
  CHECK(h->pm_offset == 5 * 512);
  CHECK(extract_vmlinux(image).has_value());
}

TEST_CASE("bad bzImages are refused with a reason", "[boot]") {
  const auto payload = gzip_bytes(tiny_kernel());
  SECTION("no HdrS") {
    auto image = make_bzimage(payload);
    image[0x203] = std::byte{'x'};
    CHECK_FALSE(is_bzimage(image));
    CHECK_THAT(parse_bzimage(image).error(), Catch::Contains("not a Linux bzImage"));
  }
  SECTION("boot protocol before 2.08") {
    CHECK_THAT(parse_bzimage(make_bzimage(payload, 5, 0x0206)).error(), Catch::Contains("2.06 predates"));
  }
  SECTION("payload runs past the end of the file") {
    auto image = make_bzimage(payload);
    image.resize(image.size() - 0x40 - 10);
    CHECK_THAT(parse_bzimage(image).error(), Catch::Contains("lies outside the"));
  }
  SECTION("empty payload") {
    auto image = make_bzimage(payload);
    std::memset(image.data() + 0x24c, 0, 4);
    CHECK_THAT(parse_bzimage(image).error(), Catch::Contains("empty payload"));
  }
  SECTION("size trailer disagrees with the stream") {
    const auto elf = tiny_kernel();
    auto r = extract_vmlinux(make_bzimage(with_trailer(xz_bytes(elf), elf.size() + 1)));
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error(), Catch::Contains("says it unpacks to"));
  }
  SECTION("payload that is not an ELF") {
    auto r = extract_vmlinux(make_bzimage(gzip_bytes(pattern(5000, 1))));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == "bzImage's gzip payload is not an ELF vmlinux");
  }
  SECTION("bomb bound passes through") {
    auto r = extract_vmlinux(make_bzimage(gzip_bytes(std::vector<std::byte>(3 << 20))), 1 << 20);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error(), Catch::Contains("limit"));
  }
  SECTION("too short to hold a header") {
    std::vector<std::byte> shortie(0x240);
    CHECK_FALSE(is_bzimage(shortie));
  }
}
