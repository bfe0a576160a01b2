#include "vmm/guest_inspector.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "xen/hypercall/paged_guest_virtual.hpp"

namespace kxen {

template <class Fn>
std::expected<void, std::string> GuestInspector::on_fd(std::uint32_t vcpu, Fn&& fn) {
  if (vcpu >= vcpus_.size()) return std::unexpected(fmt::format("no vCPU {}", vcpu));
  std::string error;
  const bool ok = vcpus_[vcpu]->call_outside_run([&](VcpuFd& fd) {
    auto r = fn(fd);
    if (!r) error = r.error();
    return r.has_value();
  });
  if (!ok) return std::unexpected(error);
  return {};
}

std::expected<VcpuState, std::string> GuestInspector::state(std::uint32_t vcpu) {
  VcpuState state;
  auto r = on_fd(vcpu, [&](VcpuFd& fd) -> std::expected<void, std::string> {
    auto regs = fd.regs();
    if (!regs) return std::unexpected(regs.error());
    auto sregs = fd.sregs();
    if (!sregs) return std::unexpected(sregs.error());
    state.regs = *regs;
    state.sregs = *sregs;
    if (auto fpu = fd.fpu()) state.fpu = *fpu;
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return state;
}

std::expected<void, std::string> GuestInspector::set_state(std::uint32_t vcpu, const VcpuState& state) {
  return on_fd(vcpu, [&](VcpuFd& fd) -> std::expected<void, std::string> {
    if (auto r = fd.set_sregs(state.sregs); !r) return r;
    if (auto r = fd.set_regs(state.regs); !r) return r;
    if (state.fpu) return fd.set_fpu(*state.fpu);
    return {};
  });
}

std::expected<std::uint32_t, std::string> GuestInspector::mp_state(std::uint32_t vcpu) {
  std::uint32_t mp = 0;
  auto r = on_fd(vcpu, [&](VcpuFd& fd) -> std::expected<void, std::string> {
    auto state = fd.mp_state();
    if (!state) return std::unexpected(state.error());
    mp = *state;
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return mp;
}

std::optional<Gpa> GuestInspector::translate(std::uint32_t vcpu, std::uint64_t gva) {
  kvm_sregs sregs{};
  auto r = on_fd(vcpu, [&](VcpuFd& fd) -> std::expected<void, std::string> {
    auto s = fd.sregs();
    if (!s) return std::unexpected(s.error());
    sregs = *s;
    return {};
  });
  if (!r) return std::nullopt;
  const PagedGuestVirtual walker(memory_, PagingState{sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer});
  // Read access: a debugger may look at (and patch) pages the guest maps read-only.
  return walker.translate(gva, PagedGuestVirtual::Access::read);
}

std::size_t GuestInspector::read_virtual(std::uint32_t vcpu, std::uint64_t gva, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t va = gva + done;
    const std::size_t n = std::min<std::size_t>(out.size() - done, kPageSize - (va & (kPageSize - 1)));
    const auto gpa = translate(vcpu, va);
    if (!gpa || !memory_.read(*gpa, out.subspan(done, n))) break;
    done += n;
  }
  return done;
}

bool GuestInspector::write_virtual(std::uint32_t vcpu, std::uint64_t gva, std::span<const std::byte> in) {
  std::vector<std::pair<Gpa, std::size_t>> pages;  // (gpa, length) per page, all checked first
  for (std::size_t done = 0; done < in.size();) {
    const std::uint64_t va = gva + done;
    const std::size_t n = std::min<std::size_t>(in.size() - done, kPageSize - (va & (kPageSize - 1)));
    const auto gpa = translate(vcpu, va);
    if (!gpa || !memory_.span(*gpa, n)) return false;
    pages.emplace_back(*gpa, n);
    done += n;
  }
  std::size_t offset = 0;
  for (const auto& [gpa, n] : pages) {
    if (!memory_.write(gpa, in.subspan(offset, n))) return false;
    offset += n;
  }
  return true;
}

std::size_t GuestInspector::read_physical(Gpa gpa, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const Gpa at = gpa + done;
    const std::size_t n = std::min<std::size_t>(out.size() - done, kPageSize - (at & (kPageSize - 1)));
    if (!memory_.read(at, out.subspan(done, n))) break;
    done += n;
  }
  return done;
}

bool GuestInspector::write_physical(Gpa gpa, std::span<const std::byte> in) { return memory_.write(gpa, in); }

}  // namespace kxen
