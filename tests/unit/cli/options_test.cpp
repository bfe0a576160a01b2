#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cli/options.hpp"

using namespace kxen;

namespace {
ParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kxen");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}
}  // namespace

TEST_CASE("memory sizes accept suffixes and default to MiB", "[cli]") {
  CHECK(parse_memory_size("512M") == 512ull << 20);
  CHECK(parse_memory_size("2G") == 2ull << 30);
  CHECK(parse_memory_size("1024") == 1024ull << 20);
  CHECK(parse_memory_size("65536K") == 64ull << 20);
  CHECK(parse_memory_size("3GiB") == 3ull << 30);
  CHECK_FALSE(parse_memory_size(""));
  CHECK_FALSE(parse_memory_size("-1G"));
  CHECK_FALSE(parse_memory_size("12Q"));
  CHECK_FALSE(parse_memory_size("M"));
  CHECK_FALSE(parse_memory_size("99999999999999999999G"));
  CHECK_FALSE(parse_memory_size("17179869184G"));  // overflows 64 bits once shifted
}

TEST_CASE("kxen run parses its options", "[cli]") {
  auto result = parse({"run", "--kernel", "vmlinuz", "--initrd", "initrd.img", "--cmdline", "console=hvc0",
                       "--memory", "1G", "--vcpus", "4", "--transport", "Hypercall-Page", "-vv",
                       "--on-reboot", "exit", "--shutdown-timeout", "2.5", "--evtchn-abi", "2level",
                       "--prefault-memory", "--kernel-cache", "/tmp/kc"});
  REQUIRE(std::holds_alternative<RunOptions>(result));
  const auto& o = std::get<RunOptions>(result);
  CHECK(o.kernel == "vmlinuz");
  CHECK(o.initrd == std::optional<std::string>("initrd.img"));
  CHECK(o.cmdline == "console=hvc0");
  CHECK(o.memory_bytes == 1ull << 30);
  CHECK(o.vcpus == 4);
  CHECK(o.transport == TransportRequest::hypercall_page);
  CHECK(o.verbosity == 2);
  CHECK(o.on_reboot == OnReboot::exit);
  CHECK(o.shutdown_timeout_s == 2.5);
  CHECK(o.evtchn_abi == EvtchnAbiRequest::two_level);
  CHECK(o.prefault_memory);
  CHECK(o.kernel_cache_dir == std::optional<std::string>("/tmp/kc"));
  CHECK_FALSE(o.no_kernel_cache);
}

TEST_CASE("kxen run defaults", "[cli]") {
  auto result = parse({"run", "--kernel", "k"});
  REQUIRE(std::holds_alternative<RunOptions>(result));
  const auto& o = std::get<RunOptions>(result);
  CHECK(o.memory_bytes == 512ull << 20);
  CHECK(o.vcpus == 1);
  CHECK(o.transport == TransportRequest::automatic);
  CHECK(o.on_reboot == OnReboot::restart);
  CHECK(o.shutdown_timeout_s == 30);
  CHECK(o.evtchn_abi == EvtchnAbiRequest::automatic);
  CHECK_FALSE(o.prefault_memory);
  CHECK_FALSE(o.initrd.has_value());
  CHECK_FALSE(o.kernel_cache_dir.has_value());
  CHECK_FALSE(o.no_kernel_cache);
}

TEST_CASE("bad command lines end with the usage exit code", "[cli]") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"run"},                                          // no kernel
           {"run", "--kernel", "k", "--bogus"},              // unknown flag
           {"run", "--kernel", "k", "--vcpus", "0"},         // no vCPU
           {"run", "--kernel", "k", "--no-kernel-cache", "--kernel-cache", "d"},  // both
           {"run", "--kernel", "k", "--vcpus", "two"},       // not a number
           {"run", "--kernel", "k", "--memory", "lots"},     // not a size
           {"run", "--kernel", "k", "--transport", "magic"}, // unknown transport
           {"run", "--kernel", "k", "--on-reboot", "later"}, // unknown reboot action
           {"run", "--kernel", "k", "--evtchn-abi", "3level"}, // unknown event-channel ABI
           {"run", "--kernel", "k", "--shutdown-timeout", "-1"},
           {"fly"},                                          // unknown subcommand
           {}}) {
    auto result = parse(args);
    REQUIRE(std::holds_alternative<int>(result));
    CHECK(std::get<int>(result) == 2);
  }
}

TEST_CASE("help and version succeed", "[cli]") {
  auto help = parse({"--help"});
  REQUIRE(std::holds_alternative<int>(help));
  CHECK(std::get<int>(help) == 0);
  auto version = parse({"--version"});
  REQUIRE(std::holds_alternative<int>(version));
  CHECK(std::get<int>(version) == 0);
}
