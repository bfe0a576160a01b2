#include "gdb/monitor.hpp"

#include <fmt/format.h>

#include "vmm/vm.hpp"

namespace kxen::gdb {

namespace {
constexpr std::size_t kMaxGrants = 256;
constexpr std::size_t kMaxXenstoreNodes = 2000;  // bounds the reply of an `ls /`

constexpr std::string_view kHelp =
    "kxen monitor commands:\n"
    "  evtchn            event channels: port, type, vCPU, pending/masked\n"
    "  gnttab            grant entries in use\n"
    "  xenstore ls [P]   the XenStore tree under P (default /)\n"
    "  vcpus             each vCPU's mode, Xen runstate, vcpu_info, upcall vector, timer port\n"
    "  hypercalls        hypercall counts per vCPU\n"
    "  phys on|off       m/M/X on guest-physical or guest-virtual addresses\n";

std::string evtchn(Vm& vm) {
  std::string out = "port  type         vcpu  detail            pending masked\n";
  for (const auto& p : vm.platform().event_channels().ports_in_use()) {
    std::string detail;
    if (p.type == "virq") detail = fmt::format("virq {}", p.virq);
    else if (p.type == "interdomain") detail = fmt::format("dom{} port {}", p.remote_dom, p.remote_port);
    else if (p.type == "unbound") detail = fmt::format("for dom{}", p.remote_dom);
    out += fmt::format("{:<5} {:<12} {:<5} {:<17} {:<7} {}\n", p.port, p.type, p.vcpu, detail, p.pending ? "yes" : "no",
                       p.masked ? "yes" : "no");
  }
  return out;
}

std::string gnttab(Vm& vm) {
  auto& table = vm.platform().grant_table();
  std::string out = fmt::format("grant table v{}, {} frame(s)\nref    flags   dom  frame        pins\n", table.version(),
                                table.frame_count());
  const auto entries = table.entries_in_use(kMaxGrants + 1);
  for (std::size_t i = 0; i < entries.size() && i < kMaxGrants; ++i) {
    const auto& g = entries[i];
    out += fmt::format("{:<6} {:#06x}  {:<4} {:<#12x} {}\n", g.ref, g.flags, g.domid, g.frame, g.pins);
  }
  if (entries.size() > kMaxGrants) out += fmt::format("... (first {} shown)\n", kMaxGrants);
  return out;
}

void xenstore_walk(xenstore::XenStore& store, const std::string& path, int depth, std::string& out, std::size_t& budget) {
  if (budget == 0) return;
  --budget;
  auto value = store.read(path);
  const std::string name = depth == 0 ? path : path.substr(path.rfind('/') + 1);
  out += fmt::format("{:{}}{} = \"{}\"\n", "", depth * 2, name, value ? *value : std::string());
  auto children = store.directory(path);
  if (!children) return;
  for (const auto& child : *children) xenstore_walk(store, path == "/" ? "/" + child : path + "/" + child, depth + 1, out, budget);
}

std::string xenstore_ls(Vm& vm, std::string_view path) {
  std::string p(path.empty() ? "/" : path);
  if (!vm.store().directory(p)) return fmt::format("xenstore: {}: no such node\n", p);
  std::string out;
  std::size_t budget = kMaxXenstoreNodes;
  xenstore_walk(vm.store(), p, 0, out, budget);
  if (budget == 0) out += "... (output truncated)\n";
  return out;
}

std::string vcpus(Vm& vm) {
  static constexpr const char* kRunstates[] = {"running", "runnable", "blocked", "offline"};
  std::string out;
  for (std::uint32_t id = 0; id < vm.vcpu_count(); ++id) {
    const auto xen = vm.platform().vcpu_state(id);
    auto state = vm.inspector().state(id);
    const int rs = xen.runstate.state;
    out += fmt::format("vcpu{}: rip {:#x}, {}; runstate {}; vcpu_info {}; upcall vector {}; timer port {}\n", id,
                       state ? state->regs.rip : 0, state && (state->sregs.efer & (1u << 10)) ? "long mode" : "32-bit",
                       rs >= 0 && rs < 4 ? kRunstates[rs] : "?",
                       xen.vcpu_info ? fmt::format("{:#x}", *xen.vcpu_info) : std::string("in shared_info"),
                       xen.upcall_vector, xen.timer_port);
  }
  return out;
}

std::string hypercalls(Vm& vm) {
  std::string out;
  for (std::uint32_t id = 0; id < vm.vcpu_count(); ++id) {
    out += fmt::format("vcpu{}:\n", id);
    for (const auto& [label, count] : vm.exit_stats(id).hypercall_counts()) out += fmt::format("  {:<28} {}\n", label, count);
  }
  return out;
}
}  // namespace

std::vector<std::string_view> monitor_words(std::string_view command) {
  std::vector<std::string_view> words;
  while (!command.empty()) {
    const auto start = command.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    command.remove_prefix(start);
    const auto end = command.find(' ');
    words.push_back(command.substr(0, end));
    if (end == std::string_view::npos) break;
    command.remove_prefix(end);
  }
  return words;
}

std::string run_monitor(Vm& vm, std::string_view command) {
  const auto words = monitor_words(command);
  if (words.empty() || words[0] == "help") return std::string(kHelp);
  if (words[0] == "evtchn" && words.size() == 1) return evtchn(vm);
  if (words[0] == "gnttab" && words.size() == 1) return gnttab(vm);
  if (words[0] == "vcpus" && words.size() == 1) return vcpus(vm);
  if (words[0] == "hypercalls" && words.size() == 1) return hypercalls(vm);
  if (words[0] == "xenstore" && words.size() >= 2 && words.size() <= 3 && words[1] == "ls")
    return xenstore_ls(vm, words.size() == 3 ? words[2] : "/");
  return fmt::format("unknown monitor command '{}'\n{}", command, kHelp);
}

}  // namespace kxen::gdb
