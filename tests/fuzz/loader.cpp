// The PVH loader on fuzzed bytes: the ELF parser and its Xen notes, kernel placement and
// relocation, the initrd and start_info, the bzImage header, and the gzip/xz/zstd/lzma payload
// decompressors with their output bound. The first byte picks the entry point; the rest is the
// file (for the ELF path, an initrd length and command line come first).
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "boot/bzimage.hpp"
#include "boot/decompress.hpp"
#include "boot/e820.hpp"
#include "boot/elf_image.hpp"
#include "boot/pvh_boot.hpp"
#include "fuzz_input.hpp"
#include "kxen/guest_memory.hpp"

using namespace kxen;
using namespace kxen::boot;
using kxen::fuzz::FuzzInput;

namespace {

constexpr std::uint64_t kGuestBytes = kMinGuestMemory;  // 32 MiB
// Far below the real bound (1 GiB): a fuzzer's memory budget is small, and what is tested is
// that the bound holds, not its size.
constexpr std::uint64_t kOutputLimit = 8ull << 20;

void boot(const ElfImage& elf, std::span<const std::byte> initrd, std::string cmdline) {
  static const auto layout = ram_layout(kGuestBytes, kGuestBytes);
  if (!layout) kxen::fuzz::invariant_failed("ram_layout");
  GuestMemory mem;
  for (const auto& r : layout->ram)
    if (mem.add_ram(r.gpa, r.size)) kxen::fuzz::invariant_failed("add_ram");
  BootConfig config;
  config.cmdline = std::move(cmdline);
  config.layout = *layout;
  auto image = load_pvh_image(mem, elf, initrd.empty() ? std::nullopt : std::optional(initrd), config);
  if (!image) return;
  // What was loaded lies in the guest's RAM, with its entry inside the kernel.
  if (!mem.is_ram(image->kernel.start, image->kernel.end - image->kernel.start))
    kxen::fuzz::invariant_failed("kernel placed outside RAM");
  if (image->entry < image->kernel.start || image->entry >= image->kernel.end)
    kxen::fuzz::invariant_failed("entry outside the loaded kernel");
}

void elf(std::span<const std::byte> bytes, std::span<const std::byte> initrd, std::string cmdline) {
  auto parsed = parse_elf(std::vector<std::byte>(bytes.begin(), bytes.end()));
  if (parsed) boot(*parsed, initrd, std::move(cmdline));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  kxen::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  switch (in.u8() % 3) {
    case 0: {  // vmlinux: initrd length, command line length, then initrd, command line, ELF
      const std::size_t initrd_len = in.u16() % 4096;
      const std::size_t cmdline_len = in.u8();
      auto initrd = in.bytes(initrd_len);
      auto cmdline = in.string(cmdline_len);
      elf(in.rest(), initrd, std::move(cmdline));
      break;
    }
    case 1: {  // bzImage
      auto image = in.rest();
      if (!is_bzimage(image)) break;
      if (!parse_bzimage(image)) break;
      auto vmlinux = extract_vmlinux(image, kOutputLimit);
      if (!vmlinux) break;
      if (vmlinux->size() > kOutputLimit) kxen::fuzz::invariant_failed("extract_vmlinux exceeded its limit");
      elf(*vmlinux, {}, "console=hvc0");
      break;
    }
    default: {  // a bare compressed stream
      auto out = decompress(in.rest(), kOutputLimit);
      if (out && out->data.size() > kOutputLimit) kxen::fuzz::invariant_failed("decompress exceeded its limit");
      if (out && out->consumed > size) kxen::fuzz::invariant_failed("decompress consumed more than its input");
      break;
    }
  }
  return 0;
}
