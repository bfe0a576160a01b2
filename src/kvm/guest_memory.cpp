#include "kxen/guest_memory.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <fmt/format.h>
#include <mutex>

namespace kxen {

// Host memory for one region: anonymous, private, released with the GuestMemory.
struct GuestMemory::Backing {
  void* base = MAP_FAILED;
  std::uint64_t size = 0;
  ~Backing() {
    if (base != MAP_FAILED) munmap(base, size);
  }
};

GuestMemory::GuestMemory() = default;
GuestMemory::~GuestMemory() = default;

namespace {
bool aligned(std::uint64_t v) { return (v & (kPageSize - 1)) == 0; }
bool ranges_overlap(Gpa a, std::uint64_t alen, Gpa b, std::uint64_t blen) {
  return a < b + blen && b < a + alen;
}
}  // namespace

std::optional<std::string> GuestMemory::check_free_locked(Gpa gpa, std::uint64_t size,
                                                          const MemoryRegion* except) const {
  if (size == 0 || !aligned(gpa) || !aligned(size)) return fmt::format("region {:#x}+{:#x} is not page-aligned", gpa, size);
  if (gpa + size < gpa) return fmt::format("region {:#x}+{:#x} wraps the address space", gpa, size);
  for (const auto& r : regions_) {
    if (&r != except && ranges_overlap(gpa, size, r.gpa, r.size))
      return fmt::format("region {:#x}+{:#x} overlaps {:#x}+{:#x}", gpa, size, r.gpa, r.size);
  }
  return std::nullopt;
}

std::optional<std::string> GuestMemory::add_ram(Gpa gpa, std::uint64_t size) {
  MemoryRegion added;
  {
    std::unique_lock lock(mutex_);
    if (auto err = check_free_locked(gpa, size, nullptr)) return err;
    auto backing = std::make_unique<Backing>();
    backing->base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (backing->base == MAP_FAILED) return fmt::format("cannot allocate {} MiB of guest RAM", size >> 20);
    backing->size = size;
    added = MemoryRegion{gpa, size, static_cast<std::byte*>(backing->base), next_slot_++, false};
    regions_.push_back(added);
    backings_.push_back(std::move(backing));
  }
  if (listener_) listener_(added, std::nullopt);
  return std::nullopt;
}

std::optional<std::string> GuestMemory::map_overlay(std::uint64_t key, Gpa gpa, std::uint64_t size) {
  MemoryRegion moved;
  std::optional<Gpa> old_gpa;
  {
    std::unique_lock lock(mutex_);
    auto it = std::find_if(overlay_keys_.begin(), overlay_keys_.end(), [&](auto& kv) { return kv.first == key; });
    MemoryRegion* existing = it == overlay_keys_.end() ? nullptr : &regions_[it->second];
    if (auto err = check_free_locked(gpa, size, existing)) return err;
    if (existing) {
      if (existing->size != size) return fmt::format("overlay {} changes size", key);
      old_gpa = existing->gpa;
      existing->gpa = gpa;
      moved = *existing;
    } else {
      auto backing = std::make_unique<Backing>();
      backing->base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      if (backing->base == MAP_FAILED) return std::string("cannot allocate an overlay page");
      backing->size = size;
      moved = MemoryRegion{gpa, size, static_cast<std::byte*>(backing->base), next_slot_++, true};
      regions_.push_back(moved);
      backings_.push_back(std::move(backing));
      overlay_keys_.emplace_back(key, regions_.size() - 1);
    }
  }
  if (listener_) listener_(moved, old_gpa);
  return std::nullopt;
}

std::byte* GuestMemory::overlay_host(std::uint64_t key) const {
  std::shared_lock lock(mutex_);
  for (auto& [k, index] : overlay_keys_)
    if (k == key) return regions_[index].host;
  return nullptr;
}

const MemoryRegion* GuestMemory::find_locked(Gpa gpa) const {
  for (const auto& r : regions_)
    if (gpa >= r.gpa && gpa < r.end()) return &r;
  return nullptr;
}

std::optional<std::span<std::byte>> GuestMemory::span(Gpa gpa, std::uint64_t len) const {
  std::shared_lock lock(mutex_);
  const MemoryRegion* r = find_locked(gpa);
  if (!r || len > r->end() - gpa) return std::nullopt;
  return std::span<std::byte>(r->host + (gpa - r->gpa), static_cast<std::size_t>(len));
}

bool GuestMemory::read(Gpa gpa, std::span<std::byte> out) const {
  // Walk region by region so a buffer spanning two adjacent regions still reads.
  std::shared_lock lock(mutex_);
  std::size_t done = 0;
  while (done < out.size()) {
    const MemoryRegion* r = find_locked(gpa + done);
    if (!r) return false;
    const std::uint64_t off = gpa + done - r->gpa;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(r->size - off, out.size() - done));
    std::memcpy(out.data() + done, r->host + off, n);
    done += n;
  }
  return gpa + out.size() >= gpa;
}

bool GuestMemory::write(Gpa gpa, std::span<const std::byte> in) {
  std::shared_lock lock(mutex_);
  if (gpa + in.size() < gpa) return false;
  // Check the whole range first so a failing write changes nothing.
  for (std::size_t done = 0; done < in.size();) {
    const MemoryRegion* r = find_locked(gpa + done);
    if (!r) return false;
    done += static_cast<std::size_t>(std::min<std::uint64_t>(r->end() - (gpa + done), in.size() - done));
  }
  for (std::size_t done = 0; done < in.size();) {
    const MemoryRegion* r = find_locked(gpa + done);
    const std::uint64_t off = gpa + done - r->gpa;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(r->size - off, in.size() - done));
    std::memcpy(r->host + off, in.data() + done, n);
    done += n;
  }
  return true;
}

bool GuestMemory::is_ram(Gpa gpa, std::uint64_t len) const {
  std::shared_lock lock(mutex_);
  if (gpa + len < gpa) return false;
  for (std::uint64_t done = 0; done < len;) {
    const MemoryRegion* r = find_locked(gpa + done);
    if (!r || r->overlay) return false;
    done += std::min<std::uint64_t>(r->end() - (gpa + done), len - done);
  }
  return true;
}

bool GuestMemory::discard(Gpa gpa, std::uint64_t len) {
  std::shared_lock lock(mutex_);
  if (len == 0 || (gpa | len) & (kPageSize - 1)) return false;
  const MemoryRegion* r = find_locked(gpa);
  if (!r || r->overlay || len > r->end() - gpa) return false;
  // Private anonymous memory: KVM's MMU notifier drops the guest mapping, the next touch gets a zero page.
  return madvise(r->host + (gpa - r->gpa), static_cast<std::size_t>(len), MADV_DONTNEED) == 0;
}

std::vector<MemoryRegion> GuestMemory::regions() const {
  std::shared_lock lock(mutex_);
  return regions_;
}

std::uint64_t GuestMemory::ram_bytes() const {
  std::shared_lock lock(mutex_);
  std::uint64_t total = 0;
  for (const auto& r : regions_)
    if (!r.overlay) total += r.size;
  return total;
}

void GuestMemory::set_listener(RegionListener listener) {
  std::unique_lock lock(mutex_);
  listener_ = std::move(listener);
}

}  // namespace kxen
