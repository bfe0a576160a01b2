// `kxen run`: validate the inputs, build the VM, run the guest, turn its end into an exit code.
#pragma once

#include "cli/options.hpp"

namespace kxen {

// Returns the process exit status (cli/exit_codes.hpp); every failure printed as one line.
int run_guest(const RunOptions& options);

}  // namespace kxen
