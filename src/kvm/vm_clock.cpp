#include "kvm/vm_clock.hpp"

#include <x86intrin.h>

#include <fstream>
#include <spdlog/spdlog.h>

namespace kxen {

namespace {

// KVM marks its clock TSC-stable only while the host's own clocksource is the TSC: the same
// test decides whether the guest may trust its TSC across vCPUs (PVCLOCK_TSC_STABLE_BIT).
bool host_tsc_is_clocksource() {
  std::ifstream in("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string name;
  return static_cast<bool>(in >> name) && name == "tsc";
}

// Guest TSC minus host TSC: KVM runs the guest's TSC at the host's rate plus an offset.
std::expected<std::int64_t, std::string> guest_tsc_offset(const VcpuFd& vcpu) {
  const std::uint64_t before = __rdtsc();
  auto guest = vcpu.guest_tsc();
  const std::uint64_t after = __rdtsc();
  if (!guest) return std::unexpected(guest.error());
  return static_cast<std::int64_t>(*guest - (before + (after - before) / 2));
}

std::unique_ptr<GuestClock> kvm_clock(const VmFd& vm) {
  return std::make_unique<SampledClock>([&vm]() -> std::uint64_t {
    auto data = vm.clock();
    if (data) return data->clock;
    spdlog::error("kvm: {}", data.error());
    return 0;
  });
}

}  // namespace

std::expected<std::unique_ptr<GuestClock>, std::string> make_guest_clock(TransportKind transport, const VmFd& vm,
                                                                         const VcpuFd& boot) {
  if (transport == TransportKind::kvm_xen) return kvm_clock(vm);
  TscClockConfig config;
  config.tsc_khz = boot.tsc_khz();
  if (config.tsc_khz == 0) return std::unexpected(std::string("KVM_GET_TSC_KHZ failed: kxen cannot give the guest a pvclock"));
  auto offset = guest_tsc_offset(boot);
  if (!offset) return std::unexpected(offset.error());
  config.tsc_stable = host_tsc_is_clocksource();
  config.guest_tsc = [off = *offset] { return __rdtsc() + static_cast<std::uint64_t>(off); };
  config.guest_tsc_zero = config.guest_tsc();
  spdlog::info("xen: pvclock from the guest TSC at {} kHz (offset {} from the host's){}", config.tsc_khz, *offset,
               config.tsc_stable ? ", stable" : "");
  return std::make_unique<TscClock>(std::move(config));
}

}  // namespace kxen
