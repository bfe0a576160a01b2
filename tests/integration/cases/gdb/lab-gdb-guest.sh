#!/bin/sh
# The stub on real KVM in the lab (kvm-xen transport) driven by gdb in batch mode: entry stop,
# breakpoint, bt, next/step, print, a hardware watchpoint (debug registers) firing on a write,
# continue to exit, hostile clients; then the guest with 2 vCPUs: both threads listed, a
# breakpoint hit on vCPU 1 reported as thread 2.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/gdb/gdb-common.sh"
need_kxen
gdb_guest_session kvm-xen hw
gdb_smp_session
