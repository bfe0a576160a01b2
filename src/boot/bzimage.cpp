#include "boot/bzimage.hpp"

#include <cstring>
#include <fmt/format.h>

#include "boot/elf_image.hpp"

namespace kxen::boot {

namespace {

using Fail = std::unexpected<std::string>;

// Offsets in the real-mode setup header (boot protocol).
constexpr std::size_t kSetupSects = 0x1f1;
constexpr std::size_t kBootFlag = 0x1fe;
constexpr std::size_t kHeaderMagic = 0x202;
constexpr std::size_t kVersion = 0x206;
constexpr std::size_t kPayloadOffset = 0x248;
constexpr std::size_t kPayloadLength = 0x24c;
constexpr std::size_t kHeaderEnd = 0x250;
constexpr std::uint16_t kPayloadProtocol = 0x0208;  // first version with payload_offset/length

template <class T>
T load_le(std::span<const std::byte> b, std::size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);  // x86 headers are little-endian, like the host
  return v;
}

// xz, zstd and lzma payloads are followed by Linux's le32 copy of the uncompressed size.
std::optional<std::string> check_size_trailer(const Decompressed& d, std::span<const std::byte> payload) {
  const std::size_t trailing = payload.size() - d.consumed;
  if (trailing != 4 || d.kind == Compression::gzip) return std::nullopt;
  const auto said = load_le<std::uint32_t>(payload, d.consumed);
  const auto got = static_cast<std::uint32_t>(d.data.size());
  if (said == got) return std::nullopt;
  return fmt::format("bzImage payload says it unpacks to {} bytes but {} stream gave {} bytes", said,
                     compression_name(d.kind), d.data.size());
}

}  // namespace

bool is_bzimage(std::span<const std::byte> image) {
  if (image.size() < kHeaderEnd) return false;
  return load_le<std::uint16_t>(image, kBootFlag) == 0xaa55 && std::memcmp(image.data() + kHeaderMagic, "HdrS", 4) == 0;
}

std::expected<BzImageHeader, std::string> parse_bzimage(std::span<const std::byte> image) {
  if (!is_bzimage(image)) return Fail("not a Linux bzImage (no 0x55AA boot flag and \"HdrS\" header)");
  BzImageHeader h;
  h.protocol = load_le<std::uint16_t>(image, kVersion);
  if (h.protocol < kPayloadProtocol)
    return Fail(fmt::format("bzImage boot protocol {}.{:02} predates payload fields (2.08); pass the vmlinux ELF",
                            h.protocol >> 8, h.protocol & 0xff));
  h.setup_sects = std::to_integer<std::uint32_t>(image[kSetupSects]);
  if (h.setup_sects == 0) h.setup_sects = 4;
  h.pm_offset = (std::uint64_t{h.setup_sects} + 1) * 512;
  h.payload_offset = h.pm_offset + load_le<std::uint32_t>(image, kPayloadOffset);
  h.payload_length = load_le<std::uint32_t>(image, kPayloadLength);
  if (h.payload_length == 0) return Fail("bzImage has an empty payload");
  if (h.payload_offset > image.size() || h.payload_length > image.size() - h.payload_offset)
    return Fail(fmt::format("bzImage payload {:#x}+{:#x} lies outside the {}-byte file (truncated download?)",
                            h.payload_offset, h.payload_length, image.size()));
  return h;
}

std::expected<std::vector<std::byte>, std::string> extract_vmlinux(std::span<const std::byte> image,
                                                                   std::uint64_t limit) {
  auto header = parse_bzimage(image);
  if (!header) return Fail(header.error());
  const auto payload = image.subspan(header->payload_offset, header->payload_length);
  auto out = decompress(payload, limit);
  if (!out) return Fail(out.error());
  if (auto err = check_size_trailer(*out, payload)) return Fail(*err);
  if (!is_elf(out->data))
    return Fail(fmt::format("bzImage's {} payload is not an ELF vmlinux", compression_name(out->kind)));
  return std::move(out->data);
}

}  // namespace kxen::boot
