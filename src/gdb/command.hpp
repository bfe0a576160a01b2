// The GDB remote commands the stub serves, parsed from a packet's payload into typed values.
// Pure and total: any byte string gives a Command (Unknown or Malformed at worst).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kxen::gdb {

// Thread ids on the wire: vCPU n is thread n+1; 0 = any thread, -1 = all threads.
inline constexpr std::int64_t kAnyThread = 0;
inline constexpr std::int64_t kAllThreads = -1;

struct QuerySupported {};
struct StartNoAck {};
struct QueryAttached {};
struct QueryCurrentThread {};
struct QueryThreadList { bool first; };  // qfThreadInfo / qsThreadInfo
struct QueryThreadExtra { std::int64_t thread; };
struct QueryFeatures { std::string annex; std::uint64_t offset; std::uint64_t length; };
struct QueryHaltReason {};  // '?'
struct MonitorCommand { std::string text; };  // qRcmd, hex-decoded
struct SetPhysMode { bool on; };              // Qqemu.PhyMemMode:N
struct QueryPhysMode {};                      // qqemu.PhyMemMode
struct ReadRegisters {};
struct WriteRegisters { std::vector<std::byte> data; };
struct ReadRegister { std::uint32_t reg; };
struct WriteRegister { std::uint32_t reg; std::vector<std::byte> data; };
struct ReadMemory { std::uint64_t addr; std::uint64_t length; };
struct WriteMemory { std::uint64_t addr; std::vector<std::byte> data; };  // M and X
struct Breakpoint { bool insert; int type; std::uint64_t addr; std::uint64_t kind; };  // Z/z, type 0..4
struct Resume { bool step; std::optional<std::uint64_t> addr; };  // c / s
struct VContQuery {};
struct VContAction { char action; std::int64_t thread; };  // 'c', 's' or 't'; thread kAllThreads if none
struct VCont { std::vector<VContAction> actions; };
struct SetThread { char op; std::int64_t thread; };  // Hg / Hc
struct ThreadAlive { std::int64_t thread; };
struct Detach {};
struct Kill {};
struct Unknown {};    // answered with an empty packet
struct Malformed {};  // answered with E01

using Command = std::variant<QuerySupported, StartNoAck, QueryAttached, QueryCurrentThread, QueryThreadList,
                             QueryThreadExtra, QueryFeatures, QueryHaltReason, MonitorCommand, SetPhysMode,
                             QueryPhysMode, ReadRegisters, WriteRegisters, ReadRegister, WriteRegister, ReadMemory,
                             WriteMemory, Breakpoint, Resume, VContQuery, VCont, SetThread, ThreadAlive, Detach, Kill,
                             Unknown, Malformed>;

Command parse_command(std::string_view payload);
// A thread id as gdb writes it: hex, or "-1"; nullopt if neither.
std::optional<std::int64_t> parse_thread_id(std::string_view text);

}  // namespace kxen::gdb
