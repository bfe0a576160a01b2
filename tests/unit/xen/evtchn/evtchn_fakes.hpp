// Shared fixtures for the event-channel unit tests: real GuestMemory, fake locator/sink/GVA.
#pragma once

#include "../../support/identity_virtual.hpp"
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <vector>

#include "xen/evtchn/event_channels.hpp"

namespace kxen::test {

class FakeLocator final : public SharedInfoLocator {
 public:
  std::optional<Gpa> shinfo;
  std::map<std::uint32_t, Gpa> vcpu_info_override;
  bool long_mode = true;

  std::optional<Gpa> shared_info_gpa() const override { return shinfo; }
  std::optional<Gpa> vcpu_info_gpa(std::uint32_t vcpu) const override {
    if (auto it = vcpu_info_override.find(vcpu); it != vcpu_info_override.end()) return it->second;
    if (!shinfo || vcpu >= XEN_LEGACY_MAX_VCPUS) return std::nullopt;
    return *shinfo + vcpu * sizeof(vcpu_info);
  }
  bool shared_info_64bit() const override { return long_mode; }
};

// EventChannels calls the sink from every sending thread at once: record under a lock.
// Tests read the vectors only after their threads have joined.
class FakeSink final : public UpcallSink {
 public:
  std::vector<std::uint32_t> kicks;
  std::vector<evtchn_port_t> raised;
  void kick(std::uint32_t vcpu) override {
    std::lock_guard lock(mutex_);
    kicks.push_back(vcpu);
  }
  void port_raised(evtchn_port_t port) override {
    std::lock_guard lock(mutex_);
    raised.push_back(port);
  }
  std::vector<std::uint32_t> poll_wakes;
  void wake_poller(std::uint32_t vcpu) override {
    std::lock_guard lock(mutex_);
    poll_wakes.push_back(vcpu);
  }

 private:
  std::mutex mutex_;
};

using IdentityGva = IdentityVirtual;

inline constexpr Gpa kShinfo = 0x10000;

// A VM-sized world: 1 MiB of RAM, shared_info at kShinfo, `vcpus` vCPUs.
struct EvtchnWorld {
  GuestMemory memory;
  FakeLocator locator;
  FakeSink sink;
  std::unique_ptr<EventChannels> evtchn;

  explicit EvtchnWorld(std::uint32_t vcpus = 2, std::uint32_t max_ports = EVTCHN_FIFO_NR_CHANNELS) {
    REQUIRE_FALSE(memory.add_ram(0, 1 << 20));
    locator.shinfo = kShinfo;
    evtchn = std::make_unique<EventChannels>(EventChannelsConfig{vcpus, 1, max_ports}, memory, locator, sink);
  }
  shared_info& shinfo() { return *reinterpret_cast<shared_info*>(memory.span(kShinfo, sizeof(shared_info))->data()); }
  vcpu_info& vcpu(std::uint32_t n) { return shinfo().vcpu_info[n]; }
  bool pending_bit(evtchn_port_t p) { return (shinfo().evtchn_pending[p / 64] >> (p % 64)) & 1; }
  void set_mask(evtchn_port_t p, bool on) {
    auto& w = shinfo().evtchn_mask[p / 64];
    w = on ? (w | (1ul << (p % 64))) : (w & ~(1ul << (p % 64)));
  }
  evtchn_port_t ipi(std::uint32_t vcpu) {
    evtchn_bind_ipi op{vcpu, 0};
    REQUIRE(evtchn->bind_ipi(op) == 0);
    return op.port;
  }
};

}  // namespace kxen::test
