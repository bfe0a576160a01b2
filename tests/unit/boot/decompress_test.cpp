// gzip/xz/zstd payload decoding, trailing bytes, truncation, corruption, bombs, unsupported formats.
#include <catch2/catch.hpp>

#include "boot/decompress.hpp"
#include "compress_fixtures.hpp"
#include "elf_builder.hpp"

using namespace kxen::boot;
using namespace kxen::boot::test;

namespace {

// Compressible but not trivial: repeated pattern with a counter.
std::vector<std::byte> sample(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<std::uint8_t>((i / 97) ^ (i % 13)));
  return v;
}

std::vector<std::byte> compress(Compression c, const std::vector<std::byte>& in) {
  switch (c) {
    case Compression::gzip: return gzip_bytes(in);
    case Compression::xz: return xz_bytes(in);
    case Compression::zstd: return zstd_bytes(in);
    default: FAIL("no fixture compressor");
  }
  return {};
}

std::vector<std::byte> bytes_of(std::initializer_list<unsigned> l) {
  std::vector<std::byte> v;
  for (unsigned x : l) v.push_back(std::byte(static_cast<std::uint8_t>(x)));
  v.resize(64);
  return v;
}

}  // namespace

TEST_CASE("gzip, xz and zstd payloads round-trip and stop at the end of the stream", "[boot]") {
  const auto original = sample(3 << 20);
  for (auto kind : {Compression::gzip, Compression::xz, Compression::zstd}) {
    INFO(compression_name(kind));
    auto packed = compress(kind, original);
    const std::size_t stream = packed.size();
    append_le32(packed, static_cast<std::uint32_t>(original.size()));  // Linux's size trailer
    CHECK(detect_compression(packed) == kind);
    auto out = decompress(packed);
    REQUIRE(out.has_value());
    CHECK(out->kind == kind);
    CHECK(out->consumed == stream);
    CHECK(out->data == original);
  }
}

TEST_CASE("zstd frame without a content size decodes", "[boot]") {
  const auto original = sample(1 << 20);
  const auto packed = zstd_bytes(original);
  CHECK(ZSTD_getFrameContentSize(packed.data(), packed.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
  auto out = decompress(packed);
  REQUIRE(out.has_value());
  CHECK(out->data == original);
}

TEST_CASE("truncated and corrupt payloads give errors naming the format", "[boot]") {
  const auto original = sample(256 << 10);
  for (auto kind : {Compression::gzip, Compression::xz, Compression::zstd}) {
    const std::string name(compression_name(kind));
    INFO(name);
    const auto packed = compress(kind, original);
    auto cut = packed;
    cut.resize(cut.size() / 2);
    auto r = decompress(cut);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error(), Catch::Contains(name) && Catch::Contains("truncated"));
    auto bad = packed;
    for (std::size_t i = 24; i < bad.size() - 8; i += 7) bad[i] ^= std::byte{0x5a};
    auto c = decompress(bad);
    REQUIRE_FALSE(c.has_value());
    CHECK_THAT(c.error(), Catch::Contains(name));
  }
}

TEST_CASE("output beyond the limit is a bomb error, exactly the limit is fine", "[boot]") {
  const std::vector<std::byte> zeros(4 << 20);
  for (auto kind : {Compression::gzip, Compression::xz, Compression::zstd}) {
    INFO(compression_name(kind));
    const auto packed = compress(kind, zeros);
    auto bomb = decompress(packed, 1 << 20);
    REQUIRE_FALSE(bomb.has_value());
    CHECK_THAT(bomb.error(), Catch::Contains("exceeds the 1 MiB limit"));
    auto exact = decompress(packed, zeros.size());
    REQUIRE(exact.has_value());
    CHECK(exact->data.size() == zeros.size());
  }
}

TEST_CASE("other kernel compressors are recognised and named as unsupported", "[boot]") {
  struct Case { std::vector<std::byte> magic; Compression kind; const char* name; };
  const std::vector<Case> cases = {
      {bytes_of({'B', 'Z', 'h', '9', '1', 'A', 'Y'}), Compression::bzip2, "bzip2"},
      {bytes_of({0x5d, 0x00, 0x00, 0x00, 0x04}), Compression::lzma, "lzma"},
      {bytes_of({0x02, 0x21, 0x4c, 0x18}), Compression::lz4, "lz4"},
      {bytes_of({0x89, 'L', 'Z', 'O', 0x00, 0x0d}), Compression::lzo, "lzo"},
  };
  for (const auto& c : cases) {
    CHECK(detect_compression(c.magic) == c.kind);
    auto r = decompress(c.magic);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error(), Catch::StartsWith(std::string("kernel payload is ") + c.name + "-compressed"));
  }
  auto unknown = decompress(bytes_of({0x12, 0x34, 0x56}));
  REQUIRE_FALSE(unknown.has_value());
  CHECK_THAT(unknown.error(), Catch::Contains("not recognised (starts with 12 34 56"));
  CHECK_FALSE(decompress({}).has_value());
}
