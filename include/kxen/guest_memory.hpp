// Guest-physical memory: RAM regions and overlay pages, reached only through checked accessors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace kxen {

using Gpa = std::uint64_t;
inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kPageShift = 12;

// One contiguous guest-physical range backed by host memory owned by GuestMemory.
struct MemoryRegion {
  Gpa gpa = 0;
  std::uint64_t size = 0;
  std::byte* host = nullptr;
  std::uint32_t slot = 0;    // KVM memslot id
  bool overlay = false;      // a Xen page (shared_info, grant frame...) rather than RAM
  std::uint64_t key = 0;     // the overlay's key (overlays only)
  Gpa end() const { return gpa + size; }
};

// Lock order: GuestMemory's mutex is a leaf; never call out while holding it.
class GuestMemory final {
 public:
  GuestMemory();
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  // Allocates zeroed host memory for [gpa, gpa+size); page-aligned, no overlap. Error text on failure.
  std::optional<std::string> add_ram(Gpa gpa, std::uint64_t size);
  // Maps an overlay page (host storage kept by GuestMemory) at gpa, moving an earlier overlay with
  // the same key, as Xen's add_to_physmap: RAM pages under gpa leave the physmap (their contents
  // are discarded) and come back, zeroed, once no overlay covers them; another overlay at exactly
  // gpa leaves the physmap (its storage is kept for its key). Error text for a partial overlap.
  std::optional<std::string> map_overlay(std::uint64_t key, Gpa gpa, std::uint64_t size);
  // Takes the overlay with `key` out of the physmap (restoring RAM it covered); its storage stays.
  void unmap_overlay(std::uint64_t key);
  std::byte* overlay_host(std::uint64_t key) const;

  // Checked view of [gpa, gpa+len) inside a single region; nullopt if any byte is outside.
  std::optional<std::span<std::byte>> span(Gpa gpa, std::uint64_t len) const;
  // As span, but only inside guest RAM (no overlay): what a guest may grant.
  std::optional<std::span<std::byte>> ram_span(Gpa gpa, std::uint64_t len) const;
  bool read(Gpa gpa, std::span<std::byte> out) const;
  bool write(Gpa gpa, std::span<const std::byte> in);

  template <class T>
  std::optional<T> read_obj(Gpa gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    if (!read(gpa, std::as_writable_bytes(std::span<T, 1>(&value, 1)))) return std::nullopt;
    return value;
  }
  template <class T>
  bool write_obj(Gpa gpa, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, std::as_bytes(std::span<const T, 1>(&value, 1)));
  }

  bool is_ram(Gpa gpa, std::uint64_t len) const;
  // Gives the host memory behind whole RAM pages back; they read as zeros afterwards.
  bool discard(Gpa gpa, std::uint64_t len);
  std::vector<MemoryRegion> regions() const;
  std::uint64_t ram_bytes() const;

  // Called (outside the lock, in order) for every memslot change, so KVM memslots follow. A removed
  // slot's id may be reused by a later `added` in the same batch.
  enum class RegionEvent { added, removed };
  using RegionListener = std::function<void(const MemoryRegion&, RegionEvent)>;
  void set_listener(RegionListener listener);

 private:
  struct Backing;
  struct Overlay {
    std::uint64_t key;
    std::byte* host;
    std::uint64_t size;
    std::optional<Gpa> gpa;  // nullopt: out of the physmap
  };
  struct Displaced {  // RAM under an overlay, out of the physmap until the overlay leaves
    Gpa gpa;
    std::uint64_t size;
    std::byte* host;
  };
  using Changes = std::vector<std::pair<MemoryRegion, RegionEvent>>;
  const MemoryRegion* find_locked(Gpa gpa) const;
  std::optional<std::span<std::byte>> span_locked(Gpa gpa, std::uint64_t len, bool ram_only) const;
  std::optional<std::string> check_free_locked(Gpa gpa, std::uint64_t size, const MemoryRegion* except) const;
  std::optional<std::string> clear_for_overlay_locked(Gpa gpa, std::uint64_t size, std::uint64_t key, Changes& out);
  void remove_overlay_locked(Overlay& ov, Changes& out);
  std::uint32_t take_slot_locked();
  void remove_region_locked(std::size_t index, Changes& out);
  void notify(const Changes& changes);

  mutable std::shared_mutex mutex_;
  std::vector<MemoryRegion> regions_;
  std::vector<std::unique_ptr<Backing>> backings_;
  std::vector<Overlay> overlays_;
  std::vector<Displaced> displaced_;
  std::vector<std::uint32_t> free_slots_;  // ids of deleted memslots, reused so moves never run out
  std::uint32_t next_slot_ = 0;
  RegionListener listener_;
};

}  // namespace kxen
