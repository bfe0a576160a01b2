#include "xen/hypercall/hypercalls.hpp"

#include <stdexcept>
#include <string>

#include "xen/hypercall/multicall.hpp"
#include "xen/hypercall/xen_abi.hpp"

namespace kxen {

HypercallRequest truncate_for_caller(const HypercallRequest& request) {
  if (request.long_mode) return request;
  HypercallRequest cut = request;
  cut.nr &= 0xffffffffu;
  for (auto& arg : cut.args) arg &= 0xffffffffu;
  return cut;
}

Hypercalls::Hypercalls(GuestMemory& memory, HypercallHost& host, HypercallConfig config)
    : memory_(memory), host_(host), config_(std::move(config)), version_(config_), console_(host), sched_(host, config_.vcpu_count) {
  set_handler(__HYPERVISOR_xen_version, [this](auto& req, auto& mem) { return version_(req, mem); });
  set_handler(__HYPERVISOR_console_io, [this](auto& req, auto& mem) { return console_(req, mem); });
  set_handler(__HYPERVISOR_sched_op, [this](auto& req, auto& mem) { return sched_(req, mem); });
  set_handler(__HYPERVISOR_sched_op_compat, [this](auto& req, auto&) { return sched_.compat(req); });
  set_handler(__HYPERVISOR_multicall, [this](auto& req, auto& mem) {
    return run_multicall(req, mem, [this](const HypercallRequest& call, GuestVirtual& m) { return dispatch(call, m); });
  });
}

void Hypercalls::set_handler(unsigned nr, Handler handler) {
  if (nr >= kTableSize) throw std::out_of_range("hypercall number " + std::to_string(nr) + " is beyond the table");
  table_[nr] = std::move(handler);
}

HypercallOutcome Hypercalls::dispatch(const HypercallRequest& request, GuestVirtual& mem) {
  const HypercallRequest req = truncate_for_caller(request);
  if (req.nr >= kTableSize || !table_[req.nr]) {
    unknown_.note(req.nr, std::nullopt, req.vcpu);
    return {-XEN_ENOSYS};
  }
  HypercallOutcome out = table_[req.nr](req, mem);
  if (out.result == -XEN_ENOSYS) unknown_.note(req.nr, static_cast<std::uint32_t>(req.args[0]), req.vcpu);
  return out;
}

}  // namespace kxen
