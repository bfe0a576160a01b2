// Guest-virtual access for hypercall pointers: walks the calling vCPU's page tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kxen/guest_memory.hpp"
#include "kxen/hypercall.hpp"

namespace kxen {

// The control registers that select and root the vCPU's paging mode (from KVM_GET_SREGS).
struct PagingState {
  std::uint64_t cr0 = 0;
  std::uint64_t cr3 = 0;
  std::uint64_t cr4 = 0;
  std::uint64_t efer = 0;
};

enum class PagingMode { flat, two_level, pae, four_level, five_level, invalid };
PagingMode paging_mode(const PagingState& state);

// Paging off (identity below 4 GiB), 32-bit 2-level (PSE/PSE-36 4 MiB pages), PAE, 4- and
// 5-level long mode with 2 MiB / 1 GiB pages. Kernel-mode (supervisor) semantics: present bit
// at every level, RW at every level for writes when CR0.WP; reserved bits and non-canonical
// addresses fail. Accessed/dirty bits are not set (Xen sets them; guests rarely care for
// hypercall buffers). Entries are read through GuestMemory, so tables outside RAM fail.
class PagedGuestVirtual final : public GuestVirtual {
 public:
  enum class Access { read, write };

  // max_phys_bits: the guest's MAXPHYADDR (CPUID 0x80000008 EAX[7:0]), clamped to [32, 52].
  PagedGuestVirtual(GuestMemory& memory, const PagingState& state, unsigned max_phys_bits = 52);

  // Reads translate page by page; a write translates every page first and writes nothing
  // unless all of them are present, writable and backed by guest memory.
  bool read(std::uint64_t gva, std::span<std::byte> out) override;
  bool write(std::uint64_t gva, std::span<const std::byte> in) override;

  std::optional<Gpa> translate(std::uint64_t gva, Access access) const;
  // GuestVirtual's form, used for areas Xen keeps by address (runstate, vcpu_time_info).
  std::optional<std::uint64_t> translate(std::uint64_t gva, bool for_write) override {
    return translate(gva, for_write ? Access::write : Access::read);
  }
  PagingMode mode() const { return mode_; }

 private:
  struct Chunk {
    Gpa gpa;
    std::size_t offset;
    std::size_t size;
  };
  std::optional<std::vector<Chunk>> plan(std::uint64_t gva, std::size_t len, Access access) const;
  std::optional<Gpa> walk_two_level(std::uint64_t gva, bool write) const;
  std::optional<Gpa> walk_wide(std::uint64_t gva, bool write) const;  // 8-byte entries
  std::uint64_t reserved_bits(int level) const;
  bool write_allowed(std::uint64_t entry, bool write) const;

  GuestMemory& memory_;
  PagingState state_;
  PagingMode mode_;
  std::uint64_t addr_mask_;  // entry bits that hold a physical address: [max_phys_bits-1:12]
  unsigned max_phys_bits_;
};

}  // namespace kxen
