// The backend's side of the PV console page (struct xencons_interface): drain `out`, fill `in`.
#pragma once

// Xen's public headers expect the C fixed-width types to be declared already.
#include <stdint.h>

#include <xen/xen.h>
#include <xen/io/console.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

namespace kxen::console {

// What one drain of the guest's `out` ring did.
struct OutputResult {
  std::size_t bytes = 0;   // bytes copied to the caller's buffer
  bool notify = false;     // out_cons moved: the guest may be waiting for space
  bool corrupt = false;    // the guest's indexes were impossible; out_cons was resynced
};

// What one fill of the guest's `in` ring did.
struct InputResult {
  std::size_t bytes = 0;   // bytes accepted from the caller
  bool notify = false;     // in_prod moved: the guest has input to read
  bool corrupt = false;    // the indexes were impossible; in_prod was resynced to in_cons
};

// Not thread-safe: one backend thread owns a ConsoleRing. The guest is the concurrent party;
// every index it can write is read once (acquire), validated, then used.
class ConsoleRing final {
 public:
  static constexpr std::size_t kOutSize = sizeof(xencons_interface::out);
  static constexpr std::size_t kInSize = sizeof(xencons_interface::in);

  // `page` must cover a whole xencons_interface and be 4-byte aligned (it is a guest page).
  static std::expected<ConsoleRing, std::string> attach(std::span<std::byte> page);

  // Copies up to out.size() pending guest output bytes (oldest first) and releases them.
  OutputResult read_output(std::span<char> out);
  // Copies as much of `in` as fits into the guest's input ring and publishes it.
  InputResult write_input(std::span<const char> in);

 private:
  explicit ConsoleRing(std::byte* base) : base_(base) {}
  std::uint32_t load_acquire(std::size_t offset) const;
  void store_release(std::size_t offset, std::uint32_t value);

  std::byte* base_;
};

}  // namespace kxen::console
