// Logging helpers: subsystem prefixes and rate limiting for guest-caused messages.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kxen {

// Allows `burst` messages, then one per `period`; a hostile guest cannot flood the log.
class RateLimit final {
 public:
  explicit RateLimit(std::uint32_t burst = 10, std::chrono::milliseconds period = std::chrono::seconds(5))
      : burst_(burst), period_ms_(period.count()) {}
  bool allow() {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now().time_since_epoch()).count();
    if (used_.fetch_add(1, std::memory_order_relaxed) < burst_) return true;
    auto last = last_ms_.load(std::memory_order_relaxed);
    return now - last >= period_ms_ && last_ms_.compare_exchange_strong(last, now);
  }

 private:
  std::uint32_t burst_;
  std::int64_t period_ms_;
  std::atomic<std::uint32_t> used_{0};
  std::atomic<std::int64_t> last_ms_{0};
};

}  // namespace kxen

// Logs a guest-caused warning through a per-call-site rate limiter.
#define KXEN_GUEST_WARN(...)                              \
  do {                                                    \
    static ::kxen::RateLimit kxen_rl_;                    \
    if (kxen_rl_.allow()) spdlog::warn(__VA_ARGS__);      \
  } while (0)
