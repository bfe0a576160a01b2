#include "cli/options.hpp"

#include "gdb/endpoint.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <iostream>
#include <map>
#include <string_view>

namespace kxen {

std::optional<std::uint64_t> parse_memory_size(const std::string& text) {
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front()))) return std::nullopt;
  std::size_t used = 0;
  std::uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string suffix = text.substr(used);
  static const std::map<std::string, unsigned> shifts{
      {"", 20}, {"K", 10}, {"k", 10}, {"KiB", 10}, {"M", 20}, {"m", 20}, {"MiB", 20}, {"G", 30}, {"g", 30}, {"GiB", 30}};
  const auto it = shifts.find(suffix);
  if (it == shifts.end()) return std::nullopt;
  if (value > (UINT64_MAX >> it->second)) return std::nullopt;  // would overflow
  return value << it->second;
}

namespace {

// A named choice ("kvm-xen", "exit"...): turns the name into the enum's number, or says in one
// sentence what the choices are (CLI11's own message lists the internal numbers).
template <class Enum>
CLI::Validator named_choice(std::map<std::string, Enum> choices) {
  std::vector<std::string> names;
  for (const auto& [name, value] : choices) names.push_back(name);
  const std::string listed = fmt::format("{}", fmt::join(names, ", "));
  return CLI::Validator(
      [choices = std::move(choices), listed](std::string& value) -> std::string {
        std::string key = value;
        for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const auto it = choices.find(key);
        if (it == choices.end()) return fmt::format("'{}' is not one of: {}", value, listed);
        value = std::to_string(static_cast<int>(it->second));
        return {};
      },
      listed);
}

void add_run_options(CLI::App& run, RunOptions& options, std::string& memory_text, std::vector<std::string>& disks) {
  run.add_option("--kernel", options.kernel, "PVH kernel: an ELF with XEN_ELFNOTE_PHYS32_ENTRY or a Linux bzImage")
      ->required();
  run.add_option("--disk", disks,
                 "a disk for xen-blkfront (repeatable): PATH[,vdev=xvda][,readonly][,discard=on|off]"
                 "[,persistent=on|off][,cache=writeback|none|unsafe][,queues=N][,aio=io_uring|sync]"
                 "[,fail-sectors=START-END (tests)]")
      ->take_all()
      ->allow_extra_args(false);
  run.add_option("--net", options.net_specs,
                 "a NIC for xen-netfront (repeatable): tap=IFNAME[,mac=..][,queues=N][,mtu=N], "
                 "bridge=BRNAME[,mac=..][,queues=N][,mtu=N] or user[,mac=..][,hostfwd=tcp::HOSTPORT-:GUESTPORT]...")
      ->take_all()
      ->allow_extra_args(false);
  run.add_option("--initrd", options.initrd, "initial ramdisk, passed as the first PVH module");
  run.add_option("--cmdline", options.cmdline, "kernel command line");
  run.add_option("--memory,-m", memory_text, "guest RAM, e.g. 512M, 2G (plain numbers are MiB)")
      ->default_str("512M");
  run.add_option("--vcpus", options.vcpus, "number of vCPUs")->default_str("1");
  const std::map<std::string, TransportRequest> transports{{"auto", TransportRequest::automatic},
                                                           {"kvm-xen", TransportRequest::kvm_xen},
                                                           {"hypercall-page", TransportRequest::hypercall_page}};
  run.add_option("--transport", options.transport,
                 "hypercall transport: auto, kvm-xen (VMCALL exits) or hypercall-page (PIO-trap stubs)")
      ->transform(named_choice(transports))
      ->default_str("auto");
  const std::map<std::string, EvtchnAbiRequest> abis{{"auto", EvtchnAbiRequest::automatic},
                                                      {"fifo", EvtchnAbiRequest::fifo},
                                                      {"2level", EvtchnAbiRequest::two_level}};
  run.add_option("--evtchn-abi", options.evtchn_abi,
                 "event-channel ABIs offered: auto (2-level only with kvm-xen, FIFO too otherwise), "
                 "fifo (FIFO too) or 2level (EVTCHNOP_init_control refused)")
      ->transform(named_choice(abis))
      ->default_str("auto");
  const std::map<std::string, OnReboot> reboot_actions{{"restart", OnReboot::restart}, {"exit", OnReboot::exit}};
  run.add_option("--on-reboot", options.on_reboot,
                 "when the guest reboots: restart it, or exit with code 4")
      ->transform(named_choice(reboot_actions))
      ->default_str("restart");
  run.add_option("--shutdown-timeout", options.shutdown_timeout_s,
                 "seconds the guest gets to power off after SIGTERM/SIGINT before kxen stops it")
      ->check(CLI::Range(0.0, 86400.0))
      ->default_str("30");
  run.add_flag("--prefault-memory", options.prefault_memory,
               "map all guest RAM into KVM's page tables before boot: commits the RAM up front, and the "
               "guest never takes a nested page fault on it (needs KVM_PRE_FAULT_MEMORY, Linux 6.11+)");
  auto* cache = run.add_option("--kernel-cache", options.kernel_cache_dir,
                                "directory of unpacked bzImage payloads, so a kernel booted again starts "
                                "without decompressing (default $XDG_CACHE_HOME/kxen/kernels or "
                                "~/.cache/kxen/kernels, skipped when not writable)");
  run.add_flag("--no-kernel-cache", options.no_kernel_cache, "unpack the bzImage on every boot")->excludes(cache);
  auto* gdb = run.add_option("--gdb", options.gdb,
                              "serve gdb's remote protocol on tcp:[HOST]:PORT (host 127.0.0.1 by default) or "
                              "unix:PATH; threads are vCPUs, `monitor help` lists the Xen views");
  run.add_flag("--gdb-wait", options.gdb_wait, "with --gdb: stop before the guest's first instruction")->needs(gdb);
  run.add_flag("-v,--verbose", options.verbosity, "more logging (-v info, -vv debug, -vvv trace)");
  run.add_option("--kvm-device", options.kvm_path, "KVM device node")->default_str("/dev/kvm");
}

// Checks what CLI11 cannot express; returns the one-line complaint.
std::optional<std::string> validate(RunOptions& options, const std::string& memory_text,
                                    const std::vector<std::string>& disks) {
  for (const auto& spec : disks) {
    auto disk = blk::parse_disk_option(spec);
    if (!disk) return disk.error();
    options.disks.push_back(std::move(*disk));
  }
  for (const auto& spec : options.net_specs) {
    auto nic = net::parse_net_option(spec);
    if (!nic) return nic.error();
    options.nets.push_back(std::move(*nic));
  }
  if (!memory_text.empty()) {
    auto bytes = parse_memory_size(memory_text);
    if (!bytes) return fmt::format("--memory {}: not a size; use e.g. 512M or 2G", memory_text);
    options.memory_bytes = *bytes;
  }
  if (options.vcpus == 0) return std::string("--vcpus 0: a guest needs at least one vCPU");
  if (options.gdb) {
    if (auto endpoint = gdb::parse_endpoint(*options.gdb); !endpoint) return endpoint.error();
  }
  return std::nullopt;
}

}  // namespace

ParseResult parse_command_line(int argc, char** argv) {
  CLI::App app{"kxen: run Xen PVH guests on Linux KVM, no Xen needed", "kxen"};
  app.set_version_flag("--version", std::string("kxen ") + KXEN_VERSION);
  app.require_subcommand(1);
  RunOptions options;
  std::string memory_text;
  std::vector<std::string> disks;
  CLI::App* run = app.add_subcommand("run", "boot a PVH guest");
  add_run_options(*run, options, memory_text, disks);
  if (argc > 1 && argv[1][0] != '-' && std::string_view(argv[1]) != "run") {
    std::cerr << "kxen: unknown command '" << argv[1] << "'; the command is 'kxen run' (see kxen --help)\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "kxen: " << e.what() << " (see kxen --help)\n";
    return 2;
  }
  if (auto complaint = validate(options, memory_text, disks)) {
    std::cerr << "kxen: " << *complaint << "\n";
    return 2;
  }
  return options;
}

}  // namespace kxen
