// kxen's process exit status: one distinct code per way a run can end (documented in the README).
#pragma once

namespace kxen {

enum ExitCode : int {
  kExitPoweroff = 0,      // the guest powered off
  kExitError = 1,         // kxen or the host failed (KVM missing, out of memory...)
  kExitUsage = 2,         // bad flags, files or configuration
  kExitGuestCrash = 3,    // the guest crashed (SHUTDOWN_crash, triple fault, watchdog)
  kExitGuestReboot = 4,   // the guest asked to reboot and --on-reboot exit was given
  kExitGuestSuspend = 5,  // the guest suspended itself (no resume support)
};

}  // namespace kxen
