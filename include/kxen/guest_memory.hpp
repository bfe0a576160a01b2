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
  // Maps an overlay page (host storage kept by GuestMemory) at gpa; replaces an earlier overlay
  // with the same key. Returns the region or error text.
  std::optional<std::string> map_overlay(std::uint64_t key, Gpa gpa, std::uint64_t size);
  std::byte* overlay_host(std::uint64_t key) const;

  // Checked view of [gpa, gpa+len) inside a single region; nullopt if any byte is outside.
  std::optional<std::span<std::byte>> span(Gpa gpa, std::uint64_t len) const;
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

  // Called (outside the lock) whenever a region is added or moved, so KVM memslots follow.
  using RegionListener = std::function<void(const MemoryRegion&, std::optional<Gpa> old_gpa)>;
  void set_listener(RegionListener listener);

 private:
  struct Backing;
  const MemoryRegion* find_locked(Gpa gpa) const;
  std::optional<std::string> check_free_locked(Gpa gpa, std::uint64_t size, const MemoryRegion* except) const;

  mutable std::shared_mutex mutex_;
  std::vector<MemoryRegion> regions_;
  std::vector<std::unique_ptr<Backing>> backings_;
  std::vector<std::pair<std::uint64_t, std::size_t>> overlay_keys_;  // key -> index in regions_
  std::uint32_t next_slot_ = 0;
  RegionListener listener_;
};

}  // namespace kxen
