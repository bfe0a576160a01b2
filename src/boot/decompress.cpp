#include "boot/decompress.hpp"

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fmt/format.h>
#include <memory>

namespace kxen::boot {

namespace {

using Fail = std::unexpected<std::string>;

// Growing output buffer that never exceeds limit+1 bytes: one byte past the limit proves a bomb.
class Sink final {
 public:
  explicit Sink(std::uint64_t limit) : limit_(limit) {}
  std::span<std::byte> room() {
    if (used_ == buf_.size()) {
      const std::uint64_t cap = limit_ + 1;
      buf_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(cap, std::max<std::uint64_t>(buf_.size() * 2, 1u << 20))));
    }
    return std::span<std::byte>(buf_).subspan(used_, std::min<std::size_t>(buf_.size() - used_, UINT_MAX));
  }
  void commit(std::size_t n) { used_ += n; }
  bool over() const { return used_ > limit_; }
  std::string bomb() const {
    return fmt::format("decompressed kernel exceeds the {} MiB limit (corrupt or a decompression bomb)", limit_ >> 20);
  }
  std::vector<std::byte> take() {
    buf_.resize(used_);
    buf_.shrink_to_fit();
    return std::move(buf_);
  }

 private:
  std::uint64_t limit_;
  std::vector<std::byte> buf_;
  std::size_t used_ = 0;
};

bool starts_with(std::span<const std::byte> d, std::initializer_list<unsigned> magic) {
  if (d.size() < magic.size()) return false;
  std::size_t i = 0;
  for (unsigned m : magic)
    if (std::to_integer<unsigned>(d[i++]) != m) return false;
  return true;
}

std::expected<std::size_t, std::string> gunzip(std::span<const std::byte> in, Sink& out) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Fail("cannot initialise zlib");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));  // zlib never writes input
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size(), UINT_MAX));
  for (;;) {
    auto room = out.room();
    zs.next_out = reinterpret_cast<Bytef*>(room.data());
    zs.avail_out = static_cast<uInt>(room.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.commit(room.size() - zs.avail_out);
    if (out.over()) return Fail(out.bomb());
    if (rc == Z_STREAM_END) return static_cast<std::size_t>(zs.total_in);
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return Fail(fmt::format("corrupt gzip payload: {}", zs.msg ? zs.msg : "inflate failed"));
    // There was room to write, so no progress or no input left means the stream ends early.
    if (rc == Z_BUF_ERROR || (zs.avail_in == 0 && zs.avail_out != 0)) return Fail("truncated gzip payload");
  }
}

std::string lzma_error(lzma_ret rc) {
  switch (rc) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "needs more than the 512 MiB decoder memory limit";
    case LZMA_FORMAT_ERROR: return "not an xz stream";
    case LZMA_OPTIONS_ERROR: return "unsupported xz options";
    case LZMA_DATA_ERROR: return "corrupt data";
    case LZMA_BUF_ERROR: return "truncated stream";
    default: return fmt::format("liblzma error {}", static_cast<int>(rc));
  }
}

std::expected<std::size_t, std::string> unxz(std::span<const std::byte> in, Sink& out) {
  lzma_stream xs = LZMA_STREAM_INIT;
  // No LZMA_CONCATENATED: stop after the first stream, Linux appends a size word after it.
  lzma_ret rc = lzma_stream_decoder(&xs, 512ull << 20, 0);
  if (rc != LZMA_OK) return Fail(fmt::format("cannot initialise liblzma: {}", lzma_error(rc)));
  std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&xs, lzma_end);
  xs.next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  xs.avail_in = in.size();
  for (;;) {
    auto room = out.room();
    xs.next_out = reinterpret_cast<std::uint8_t*>(room.data());
    xs.avail_out = room.size();
    rc = lzma_code(&xs, xs.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    out.commit(room.size() - xs.avail_out);
    if (out.over()) return Fail(out.bomb());
    if (rc == LZMA_STREAM_END) return static_cast<std::size_t>(xs.total_in);
    if (rc != LZMA_OK) return Fail(fmt::format("xz payload: {}", lzma_error(rc)));
  }
}

std::expected<std::size_t, std::string> unzstd(std::span<const std::byte> in, Sink& out) {
  std::unique_ptr<ZSTD_DCtx, std::size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) return Fail("cannot initialise libzstd");
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  for (;;) {
    auto room = out.room();
    ZSTD_outBuffer dst{room.data(), room.size(), 0};
    const std::size_t before_in = src.pos;
    const std::size_t rc = ZSTD_decompressStream(dctx.get(), &dst, &src);
    if (ZSTD_isError(rc)) return Fail(fmt::format("zstd payload: {}", ZSTD_getErrorName(rc)));
    out.commit(dst.pos);
    if (out.over()) return Fail(out.bomb());
    if (rc == 0) return src.pos;  // frame decoded and flushed
    if ((dst.pos < dst.size && src.pos == src.size) || (src.pos == before_in && dst.pos == 0))
      return Fail("zstd payload: truncated stream");
  }
}

}  // namespace

Compression detect_compression(std::span<const std::byte> d) {
  if (starts_with(d, {0x1f, 0x8b})) return Compression::gzip;
  if (starts_with(d, {0xfd, '7', 'z', 'X', 'Z', 0x00})) return Compression::xz;
  if (starts_with(d, {0x28, 0xb5, 0x2f, 0xfd})) return Compression::zstd;
  if (starts_with(d, {'B', 'Z', 'h'})) return Compression::bzip2;
  if (starts_with(d, {0x89, 'L', 'Z', 'O', 0x00})) return Compression::lzo;
  if (starts_with(d, {0x02, 0x21, 0x4c, 0x18}) || starts_with(d, {0x04, 0x22, 0x4d, 0x18})) return Compression::lz4;
  if (starts_with(d, {0x5d, 0x00, 0x00})) return Compression::lzma;
  return Compression::unknown;
}

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::gzip: return "gzip";
    case Compression::xz: return "xz";
    case Compression::zstd: return "zstd";
    case Compression::lzma: return "lzma";
    case Compression::lz4: return "lz4";
    case Compression::bzip2: return "bzip2";
    case Compression::lzo: return "lzo";
    case Compression::unknown: break;
  }
  return "unknown";
}

std::expected<Decompressed, std::string> decompress(std::span<const std::byte> in, std::uint64_t limit) {
  Decompressed result;
  result.kind = detect_compression(in);
  Sink sink(limit);
  std::expected<std::size_t, std::string> consumed;
  switch (result.kind) {
    case Compression::gzip: consumed = gunzip(in, sink); break;
    case Compression::xz: consumed = unxz(in, sink); break;
    case Compression::zstd: consumed = unzstd(in, sink); break;
    case Compression::unknown: {
      std::string magic;
      for (std::size_t i = 0; i < std::min<std::size_t>(in.size(), 6); ++i)
        magic += fmt::format(" {:02x}", std::to_integer<unsigned>(in[i]));
      return Fail(fmt::format("kernel payload compression not recognised (starts with{})", magic));
    }
    default:
      return Fail(fmt::format("kernel payload is {}-compressed; kxen decompresses gzip, xz and zstd "
                              "(rebuild the kernel with one of those, or pass the uncompressed vmlinux)",
                              compression_name(result.kind)));
  }
  if (!consumed) return Fail(consumed.error());
  result.consumed = *consumed;
  result.data = sink.take();
  return result;
}

}  // namespace kxen::boot
