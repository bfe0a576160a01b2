// Test helper: compresses bytes with the real libraries and wraps them as a bzImage.
#pragma once

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace kxen::boot::test {

inline std::vector<std::byte> gzip_bytes(const std::vector<std::byte>& in) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  std::vector<std::byte> out(deflateBound(&zs, in.size()) + 64);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

inline std::vector<std::byte> xz_bytes(const std::vector<std::byte>& in) {
  std::vector<std::byte> out(lzma_stream_buffer_bound(in.size()));
  std::size_t pos = 0;
  if (lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, nullptr, reinterpret_cast<const std::uint8_t*>(in.data()), in.size(),
                              reinterpret_cast<std::uint8_t*>(out.data()), &pos, out.size()) != LZMA_OK)
    throw std::runtime_error("lzma_easy_buffer_encode");
  out.resize(pos);
  return out;
}

// Streaming zstd, by default without a content size in the frame header; with a checksum,
// as the zstd tool that builds Linux's payloads writes one.
inline std::vector<std::byte> zstd_bytes(const std::vector<std::byte>& in, bool with_size = false) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, with_size ? 1 : 0);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  if (with_size) ZSTD_CCtx_setPledgedSrcSize(cctx, in.size());
  std::vector<std::byte> out(ZSTD_compressBound(in.size()) + 64);
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  ZSTD_outBuffer dst{out.data(), out.size(), 0};
  const std::size_t rc = ZSTD_compressStream2(cctx, &dst, &src, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  if (rc != 0) throw std::runtime_error("ZSTD_compressStream2");
  out.resize(dst.pos);
  return out;
}

inline void append_le32(std::vector<std::byte>& v, std::uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(std::byte((x >> (8 * i)) & 0xff));
}

// A bzImage-shaped file: boot sector, setup header, `setup_sects` sectors, then the payload
// after `gap` bytes of protected-mode code.
inline std::vector<std::byte> make_bzimage(const std::vector<std::byte>& payload, std::uint8_t setup_sects = 5,
                                           std::uint16_t protocol = 0x020f, std::size_t gap = 0x100) {
  const std::size_t pm = (std::size_t{setup_sects ? setup_sects : 4u} + 1) * 512;
  std::vector<std::byte> img(pm + gap);
  auto put = [&](std::size_t at, const void* p, std::size_t n) { std::memcpy(img.data() + at, p, n); };
  const std::uint16_t flag = 0xaa55;
  const std::uint32_t off = static_cast<std::uint32_t>(gap), len = static_cast<std::uint32_t>(payload.size());
  img[0x1f1] = std::byte{setup_sects};
  put(0x1fe, &flag, 2);
  put(0x202, "HdrS", 4);
  put(0x206, &protocol, 2);
  put(0x248, &off, 4);
  put(0x24c, &len, 4);
  img.insert(img.end(), payload.begin(), payload.end());
  img.resize(img.size() + 0x40);  // bzImage files carry more after the payload (CRC, padding)
  return img;
}

}  // namespace kxen::boot::test
