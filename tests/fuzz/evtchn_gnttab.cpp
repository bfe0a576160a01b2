// Event channels and grant tables from both sides: the guest's EVTCHNOP_* / GNTTABOP_* and
// XENMEM_add_to_physmap calls with fuzzed argument structs, the guest scribbling on its grant
// entries and shared pages, and kxen's backend (dom0) side mapping, copying and unmapping grants
// and binding, notifying and closing host ports. Nothing may crash, leak a pin past its unmap,
// or touch memory outside the guest's.
#include "fuzz_platform.hpp"  // first: it pins the Xen interface version

#include <xen/grant_table.h>
#include <xen/memory.h>

#include <cstdint>
#include <vector>

using namespace kxen;
using namespace kxen::fuzz;

namespace {

constexpr int kMaxOps = 128;
constexpr std::size_t kMaxMappings = 16;
constexpr std::size_t kMaxHostPorts = 8;

struct Backend {
  std::vector<GrantMapping> mappings;
  std::vector<evtchn_port_t> host_ports;
};

HypercallRequest request(std::uint64_t cmd, std::uint64_t arg, std::uint64_t count, bool long_mode) {
  HypercallRequest r;
  r.long_mode = long_mode;
  r.args = {cmd, arg, count, 0, 0, 0};
  return r;
}

// The guest writes an argument struct at kArg, then issues the call (continuations included).
void guest_call(FuzzInput& in, PlatformWorld& w, unsigned which) {
  const std::uint8_t how = in.u8();
  const bool long_mode = !(how & 0x80);
  w.memory.write(kArg, in.bytes(in.u8() * 4u));
  auto r = request(in.u8() % 16, w.pointer(0), in.u8() % 8, long_mode);
  r.vcpu = how % kVcpus;
  for (int i = 0; i < 64; ++i) {  // continuations followed
    const auto out = which == 0   ? w.platform->event_channel_op(r, *w.gva)
                     : which == 1 ? w.platform->grant_table().hypercall(r, *w.gva)
                                  : w.platform->memory_op(r, *w.gva);
    if (out.action != VcpuAction::restart) return;
    r.args = out.restart_args;
  }
  // Each invocation's work is bounded (-timeout); a guest may ask for more continuations.
}

// XENMEM_add_to_physmap of a grant frame (or shared_info), the struct built from the input.
void map_frame(FuzzInput& in, PlatformWorld& w) {
  xen_add_to_physmap op{};
  op.domid = DOMID_SELF;
  const std::uint8_t pick = in.u8();
  op.space = (pick & 1) ? XENMAPSPACE_grant_table : XENMAPSPACE_shared_info;
  op.idx = (in.u8() % 8) | ((pick & 2) ? XENMAPIDX_grant_table_status : 0);
  op.gpfn = (pick & 4) ? 0x400 + in.u8() : 0x20 + in.u8() % 0x80;  // a hole above RAM, or RAM
  w.memory.write_obj(kArg, op);
  w.platform->memory_op(request(XENMEM_add_to_physmap, w.pointer(0), 0, true), *w.gva);
}

void backend(FuzzInput& in, PlatformWorld& w, Backend& b) {
  auto& gnt = w.platform->grant_table();
  auto& evt = w.platform->event_channels();
  switch (in.u8() % 8) {
    case 0: {
      if (b.mappings.size() >= kMaxMappings) break;
      auto m = gnt.map(in.u16() % 1024, in.u8() & 1);
      if (!m) break;
      if (m->writable_data().empty() != !m->writable()) invariant_failed("writable_data of a read-only grant");
      const auto page = m->writable_data();
      for (auto& byte : page.first(std::min<std::size_t>(64, page.size()))) byte = std::byte{0x5a};
      b.mappings.push_back(*m);
      break;
    }
    case 1:
      if (b.mappings.empty()) break;
      {
        const std::size_t i = in.u8() % b.mappings.size();
        gnt.unmap(b.mappings[i]);
        b.mappings.erase(b.mappings.begin() + static_cast<std::ptrdiff_t>(i));
      }
      break;
    case 2: {
      std::vector<std::byte> buf(in.u16() % (2 * kPageSize));
      gnt.copy_from_grant(in.u16() % 1024, in.u16(), buf);
      break;
    }
    case 3: {
      const grant_ref_t ref = in.u16() % 1024;
      const std::uint32_t offset = in.u16();
      auto bytes = in.bytes(in.u16() % (2 * kPageSize));
      gnt.copy_to_grant(ref, offset, bytes);
      break;
    }
    case 4: {
      if (b.host_ports.size() >= kMaxHostPorts) break;
      auto guest_port = (in.u8() & 1) ? evt.alloc_unbound_for_guest() : std::expected<evtchn_port_t, int>(in.u8());
      if (!guest_port) break;
      auto bound = evt.bind_interdomain_from_host(*guest_port, [](evtchn_port_t) {});
      if (bound) b.host_ports.push_back(bound->host_port);
      break;
    }
    case 5:
      if (!b.host_ports.empty()) evt.notify_guest(b.host_ports[in.u8() % b.host_ports.size()]);
      else evt.notify_guest(in.u8());
      break;
    case 6:
      if (b.host_ports.empty()) break;
      {
        const std::size_t i = in.u8() % b.host_ports.size();
        evt.close_host_port(b.host_ports[i]);
        b.host_ports.erase(b.host_ports.begin() + static_cast<std::ptrdiff_t>(i));
      }
      break;
    default: evt.raise_virq(in.u8() % (kVcpus + 1), in.u8() % 32); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  const std::uint8_t flags = in.u8();
  const PagingState paging = paging_state(in.u8() % 2, in);  // flat or the built 4-level tables
  PlatformWorld w(flags, paging);
  Backend b;
  for (int op = 0; op < kMaxOps && !in.empty(); ++op) {
    switch (in.u8() % 6) {
      case 0: guest_call(in, w, 0); break;
      case 1: guest_call(in, w, 1); break;
      case 2: map_frame(in, w); break;
      case 3: {  // the guest writes anywhere it can: grant entries in mapped frames, shared_info
        const Gpa gpa = (in.u8() & 1) ? 0x400000 + in.u32() % 0x100000 : in.u32() % kRamTop;
        w.memory.write(gpa, in.bytes(in.u8()));
        break;
      }
      default: backend(in, w, b); break;
    }
  }
  for (const auto& m : b.mappings) w.platform->grant_table().unmap(m);
  for (auto p : b.host_ports) w.platform->event_channels().close_host_port(p);
  return 0;
}
