#include "xen/hypercall/paged_guest_virtual.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace kxen {

namespace {
constexpr std::uint64_t kCr0Wp = 1ull << 16;
constexpr std::uint64_t kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pse = 1ull << 4;
constexpr std::uint64_t kCr4Pae = 1ull << 5;
constexpr std::uint64_t kCr4La57 = 1ull << 12;
constexpr std::uint64_t kEferLma = 1ull << 10;
constexpr std::uint64_t kEferNxe = 1ull << 11;

constexpr std::uint64_t kPresent = 1ull << 0;
constexpr std::uint64_t kRw = 1ull << 1;
constexpr std::uint64_t kPs = 1ull << 7;
constexpr std::uint64_t kNx = 1ull << 63;
constexpr std::uint64_t kFourGiB = 1ull << 32;

constexpr std::uint64_t bits(unsigned hi, unsigned lo) {  // mask of bits [hi:lo]
  return (hi >= 63 ? ~0ull : ((1ull << (hi + 1)) - 1)) & ~((1ull << lo) - 1);
}

bool canonical(std::uint64_t gva, unsigned va_bits) {
  const unsigned unused = 64 - va_bits;
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(gva << unused) >> unused) == gva;
}
}  // namespace

PagingMode paging_mode(const PagingState& s) {
  if (!(s.cr0 & kCr0Pg)) return (s.efer & kEferLma) ? PagingMode::invalid : PagingMode::flat;
  if (!(s.cr4 & kCr4Pae)) return (s.efer & kEferLma) ? PagingMode::invalid : PagingMode::two_level;
  if (!(s.efer & kEferLma)) return PagingMode::pae;
  return (s.cr4 & kCr4La57) ? PagingMode::five_level : PagingMode::four_level;
}

PagedGuestVirtual::PagedGuestVirtual(GuestMemory& memory, const PagingState& state, unsigned max_phys_bits)
    : memory_(memory), state_(state), mode_(paging_mode(state)),
      max_phys_bits_(std::clamp(max_phys_bits, 32u, 52u)) {
  addr_mask_ = bits(max_phys_bits_ - 1, 12);
}

bool PagedGuestVirtual::write_allowed(std::uint64_t entry, bool write) const {
  // Supervisor writes ignore RW unless CR0.WP is set.
  return !write || !(state_.cr0 & kCr0Wp) || (entry & kRw);
}

std::optional<Gpa> PagedGuestVirtual::translate(std::uint64_t gva, Access access) const {
  const bool write = access == Access::write;
  switch (mode_) {
    case PagingMode::flat: return gva < kFourGiB ? std::optional<Gpa>(gva) : std::nullopt;
    case PagingMode::two_level: return walk_two_level(gva, write);
    case PagingMode::pae: return gva < kFourGiB ? walk_wide(gva, write) : std::nullopt;
    case PagingMode::four_level: return canonical(gva, 48) ? walk_wide(gva, write) : std::nullopt;
    case PagingMode::five_level: return canonical(gva, 57) ? walk_wide(gva, write) : std::nullopt;
    case PagingMode::invalid: break;
  }
  return std::nullopt;
}

std::optional<Gpa> PagedGuestVirtual::walk_two_level(std::uint64_t gva, bool write) const {
  if (gva >= kFourGiB) return std::nullopt;
  const Gpa pd = state_.cr3 & 0xfffff000u;
  const auto pde = memory_.read_obj<std::uint32_t>(pd + ((gva >> 22) & 0x3ff) * 4);
  if (!pde || !(*pde & kPresent) || !write_allowed(*pde, write)) return std::nullopt;
  if ((state_.cr4 & kCr4Pse) && (*pde & kPs)) {
    // 4 MiB page; PSE-36 puts physical bits 39:32 in PDE bits 20:13, bit 21 is reserved.
    const std::uint64_t high = (*pde >> 13) & 0xff;
    if ((*pde & (1u << 21)) || (high << 32) & ~bits(max_phys_bits_ - 1, 0)) return std::nullopt;
    return (high << 32) | (*pde & 0xffc00000u) | (gva & 0x3fffff);
  }
  const auto pte = memory_.read_obj<std::uint32_t>((*pde & 0xfffff000u) + ((gva >> 12) & 0x3ff) * 4);
  if (!pte || !(*pte & kPresent) || !write_allowed(*pte, write)) return std::nullopt;
  return (*pte & 0xfffff000u) | (gva & 0xfff);
}

// Level 1 = page table ... 5 = PML5. For PAE, level 3 is the 4-entry PDPT.
std::uint64_t PagedGuestVirtual::reserved_bits(int level) const {
  std::uint64_t reserved = bits(51, max_phys_bits_);
  if (!(state_.efer & kEferNxe)) reserved |= kNx;
  if (mode_ == PagingMode::pae) {
    reserved |= bits(62, max_phys_bits_);
    // Bits 1,2,5-8 of a PDPTE are not checked: AMD (NPT) walks PDPTEs like other entries and sets
    // their Accessed bit (5), and Intel refuses bad ones at MOV CR3 already. Xen checks only P too.
    if (level == 3) reserved |= kNx;
  } else if (level >= 4) {
    reserved |= kPs;  // no huge pages above 1 GiB
  }
  return reserved;
}

std::optional<Gpa> PagedGuestVirtual::walk_wide(std::uint64_t gva, bool write) const {
  const bool pae = mode_ == PagingMode::pae;
  const int top = mode_ == PagingMode::five_level ? 5 : mode_ == PagingMode::four_level ? 4 : 3;
  Gpa table = pae ? (state_.cr3 & 0xffffffe0u) : (state_.cr3 & addr_mask_);
  for (int level = top; level >= 1; --level) {
    const unsigned shift = 12 + 9 * static_cast<unsigned>(level - 1);
    const std::uint64_t index = (gva >> shift) & ((pae && level == 3) ? 0x3 : 0x1ff);
    const auto entry = memory_.read_obj<std::uint64_t>(table + index * 8);
    if (!entry || !(*entry & kPresent) || (*entry & reserved_bits(level))) {
      spdlog::trace("walk: gva {:#x} fails at level {}: entry {:#x} at {:#x} (cr3 {:#x} cr4 {:#x} efer {:#x})", gva, level,
                    entry.value_or(0), table + index * 8, state_.cr3, state_.cr4, state_.efer);
      return std::nullopt;
    }
    const bool pdpte = pae && level == 3;  // has no RW bit and cannot map a page
    if (!pdpte && !write_allowed(*entry, write)) return std::nullopt;
    const bool large = level > 1 && !pdpte && (*entry & kPs);
    if (level == 1 || large) {
      const std::uint64_t offset_mask = (1ull << shift) - 1;
      // Large pages: bit 12 is PAT, bits [shift-1:13] must be zero.
      if (large && (*entry & offset_mask & ~bits(12, 0))) return std::nullopt;
      return (*entry & addr_mask_ & ~offset_mask) | (gva & offset_mask);
    }
    table = *entry & addr_mask_;
  }
  return std::nullopt;
}

std::optional<std::vector<PagedGuestVirtual::Chunk>> PagedGuestVirtual::plan(std::uint64_t gva, std::size_t len,
                                                                              Access access) const {
  std::vector<Chunk> chunks;
  chunks.reserve(len / kPageSize + 2);
  for (std::size_t done = 0; done < len;) {
    const std::uint64_t va = gva + done;  // wraps like linear-address arithmetic
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kPageSize - (va & (kPageSize - 1)), len - done));
    const auto gpa = translate(va, access);
    if (!gpa) return std::nullopt;
    chunks.push_back({*gpa, done, n});
    done += n;
  }
  return chunks;
}

bool PagedGuestVirtual::read(std::uint64_t gva, std::span<std::byte> out) {
  const auto chunks = plan(gva, out.size(), Access::read);
  if (!chunks) return false;
  for (const auto& c : *chunks)
    if (!memory_.read(c.gpa, out.subspan(c.offset, c.size))) return false;
  return true;
}

bool PagedGuestVirtual::write(std::uint64_t gva, std::span<const std::byte> in) {
  const auto chunks = plan(gva, in.size(), Access::write);
  if (!chunks) return false;
  // Check every page is backed before the first byte lands: a failed write changes nothing.
  for (const auto& c : *chunks)
    if (!memory_.span(c.gpa, c.size)) return false;
  for (const auto& c : *chunks)
    if (!memory_.write(c.gpa, in.subspan(c.offset, c.size))) return false;
  return true;
}

}  // namespace kxen
