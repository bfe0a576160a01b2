// gdb `monitor` commands (qRcmd) that show Xen's state of the guest: evtchn, gnttab,
// xenstore ls [PATH], vcpus, hypercalls. Read-only; run while the guest is stopped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kxen {
class Vm;
}

namespace kxen::gdb {

// The command line split at spaces ("xenstore ls /local" -> 3 words).
std::vector<std::string_view> monitor_words(std::string_view command);
// The command's output, newline-terminated; a usage text for unknown commands.
std::string run_monitor(Vm& vm, std::string_view command);

}  // namespace kxen::gdb
