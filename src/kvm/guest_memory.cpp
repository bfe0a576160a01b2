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

std::uint32_t GuestMemory::take_slot_locked() {
  if (free_slots_.empty()) return next_slot_++;
  const std::uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

void GuestMemory::remove_region_locked(std::size_t index, Changes& out) {
  out.emplace_back(regions_[index], RegionEvent::removed);
  free_slots_.push_back(regions_[index].slot);
  regions_.erase(regions_.begin() + static_cast<std::ptrdiff_t>(index));
}

void GuestMemory::notify(const Changes& changes) {
  if (!listener_) return;
  for (const auto& [region, event] : changes) listener_(region, event);
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
    added = MemoryRegion{gpa, size, static_cast<std::byte*>(backing->base), take_slot_locked(), false};
    regions_.push_back(added);
    backings_.push_back(std::move(backing));
  }
  if (listener_) listener_(added, RegionEvent::added);
  return std::nullopt;
}

// Takes the overlay out of the physmap; RAM it displaced comes back (zeroed: it was discarded).
void GuestMemory::remove_overlay_locked(Overlay& ov, Changes& out) {
  if (!ov.gpa) return;
  const Gpa gpa = *ov.gpa;
  ov.gpa.reset();
  for (std::size_t i = 0; i < regions_.size(); ++i)
    if (regions_[i].overlay && regions_[i].key == ov.key) {
      remove_region_locked(i, out);
      break;
    }
  auto d = std::find_if(displaced_.begin(), displaced_.end(), [&](const Displaced& x) { return x.gpa == gpa; });
  if (d == displaced_.end()) return;
  MemoryRegion merged{d->gpa, d->size, d->host, 0, false};
  displaced_.erase(d);
  // Rejoin the RAM around it (same backing, contiguous) so moving frames about cannot use up memslots.
  for (std::size_t i = 0; i < regions_.size();) {
    const MemoryRegion r = regions_[i];
    const bool before = !r.overlay && r.end() == merged.gpa && r.host + r.size == merged.host;
    const bool after = !r.overlay && r.gpa == merged.end() && merged.host + merged.size == r.host;
    if (!before && !after) {
      ++i;
      continue;
    }
    if (before) merged.gpa = r.gpa, merged.host = r.host;
    merged.size += r.size;
    remove_region_locked(i, out);
  }
  merged.slot = take_slot_locked();
  regions_.push_back(merged);
  out.emplace_back(merged, RegionEvent::added);
}

// Makes [gpa, gpa+size) free for overlay `key`: splits RAM around it, evicts another overlay there.
std::optional<std::string> GuestMemory::clear_for_overlay_locked(Gpa gpa, std::uint64_t size, std::uint64_t key,
                                                                 Changes& out) {
  for (std::size_t i = 0; i < regions_.size(); ++i) {
    const MemoryRegion r = regions_[i];
    if (!ranges_overlap(gpa, size, r.gpa, r.size) || (r.overlay && r.key == key)) continue;
    if (r.overlay) {
      if (r.gpa != gpa || r.size != size) return fmt::format("region {:#x}+{:#x} overlaps overlay {:#x}+{:#x}", gpa, size, r.gpa, r.size);
      auto ov = std::find_if(overlays_.begin(), overlays_.end(), [&](const Overlay& o) { return o.key == r.key; });
      ov->gpa.reset();  // evicted; RAM displaced at gpa stays displaced, now under the new overlay
      remove_region_locked(i, out);
      return std::nullopt;
    }
    if (gpa < r.gpa || gpa + size > r.end()) return fmt::format("region {:#x}+{:#x} straddles RAM {:#x}+{:#x}", gpa, size, r.gpa, r.size);
    // As Xen, the RAM page leaves the physmap and its memory is freed.
    std::byte* host = r.host + (gpa - r.gpa);
    madvise(host, static_cast<std::size_t>(size), MADV_DONTNEED);
    displaced_.push_back({gpa, size, host});
    remove_region_locked(i, out);
    if (gpa > r.gpa) regions_.push_back(MemoryRegion{r.gpa, gpa - r.gpa, r.host, take_slot_locked(), false});
    if (gpa > r.gpa) out.emplace_back(regions_.back(), RegionEvent::added);
    if (gpa + size < r.end())
      regions_.push_back(MemoryRegion{gpa + size, r.end() - gpa - size, host + size, take_slot_locked(), false});
    if (gpa + size < r.end()) out.emplace_back(regions_.back(), RegionEvent::added);
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> GuestMemory::map_overlay(std::uint64_t key, Gpa gpa, std::uint64_t size) {
  Changes changes;
  {
    std::unique_lock lock(mutex_);
    if (size == 0 || !aligned(gpa) || !aligned(size) || gpa + size < gpa)
      return fmt::format("overlay {:#x}+{:#x} is not page-aligned or wraps", gpa, size);
    auto ov = std::find_if(overlays_.begin(), overlays_.end(), [&](const Overlay& o) { return o.key == key; });
    if (ov != overlays_.end() && ov->size != size) return fmt::format("overlay {} changes size", key);
    if (ov != overlays_.end() && ov->gpa == gpa) return std::nullopt;
    // Validate before changing anything: a refused mapping leaves the physmap as it was.
    for (const auto& r : regions_) {
      if (!ranges_overlap(gpa, size, r.gpa, r.size) || (r.overlay && r.key == key)) continue;
      const bool fits = r.overlay ? (r.gpa == gpa && r.size == size) : (gpa >= r.gpa && gpa + size <= r.end());
      if (!fits) return fmt::format("region {:#x}+{:#x} overlaps {:#x}+{:#x} partially", gpa, size, r.gpa, r.size);
    }
    if (ov == overlays_.end()) {
      auto backing = std::make_unique<Backing>();
      backing->base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      if (backing->base == MAP_FAILED) return std::string("cannot allocate an overlay page");
      backing->size = size;
      overlays_.push_back({key, static_cast<std::byte*>(backing->base), size, std::nullopt});
      backings_.push_back(std::move(backing));
      ov = overlays_.end() - 1;
    }
    remove_overlay_locked(*ov, changes);  // from its old place first: that may give RAM back
    if (auto err = clear_for_overlay_locked(gpa, size, key, changes)) return err;
    ov->gpa = gpa;
    regions_.push_back(MemoryRegion{gpa, size, ov->host, take_slot_locked(), true, key});
    changes.emplace_back(regions_.back(), RegionEvent::added);
  }
  notify(changes);
  return std::nullopt;
}

void GuestMemory::unmap_overlay(std::uint64_t key) {
  Changes changes;
  {
    std::unique_lock lock(mutex_);
    auto ov = std::find_if(overlays_.begin(), overlays_.end(), [&](const Overlay& o) { return o.key == key; });
    if (ov != overlays_.end()) remove_overlay_locked(*ov, changes);
  }
  notify(changes);
}

std::byte* GuestMemory::overlay_host(std::uint64_t key) const {
  std::shared_lock lock(mutex_);
  for (const auto& ov : overlays_)
    if (ov.key == key) return ov.host;
  return nullptr;
}

const MemoryRegion* GuestMemory::find_locked(Gpa gpa) const {
  for (const auto& r : regions_)
    if (gpa >= r.gpa && gpa < r.end()) return &r;
  return nullptr;
}

std::optional<std::span<std::byte>> GuestMemory::span_locked(Gpa gpa, std::uint64_t len, bool ram_only) const {
  const MemoryRegion* r = find_locked(gpa);
  if (!r || (ram_only && r->overlay) || len > r->end() - gpa) return std::nullopt;
  return std::span<std::byte>(r->host + (gpa - r->gpa), static_cast<std::size_t>(len));
}

std::optional<std::span<std::byte>> GuestMemory::span(Gpa gpa, std::uint64_t len) const {
  std::shared_lock lock(mutex_);
  return span_locked(gpa, len, false);
}

std::optional<std::span<std::byte>> GuestMemory::ram_span(Gpa gpa, std::uint64_t len) const {
  std::shared_lock lock(mutex_);
  return span_locked(gpa, len, true);
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
  if (len == 0 || (gpa | len) & (kPageSize - 1) || gpa + len < gpa) return false;
  // RAM may be split around overlays: check the whole range first, then discard region by region.
  for (std::uint64_t done = 0; done < len;) {
    const MemoryRegion* r = find_locked(gpa + done);
    if (!r || r->overlay) return false;
    done += std::min<std::uint64_t>(r->end() - (gpa + done), len - done);
  }
  for (std::uint64_t done = 0; done < len;) {
    const MemoryRegion* r = find_locked(gpa + done);
    const std::uint64_t n = std::min<std::uint64_t>(r->end() - (gpa + done), len - done);
    // Private anonymous memory: KVM's MMU notifier drops the guest mapping, the next touch gets a zero page.
    if (madvise(r->host + (gpa + done - r->gpa), static_cast<std::size_t>(n), MADV_DONTNEED) != 0) return false;
    done += n;
  }
  return true;
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
