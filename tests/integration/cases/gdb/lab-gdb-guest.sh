#!/bin/sh
# The stub on real KVM in the lab (kvm-xen transport) driven by gdb in batch mode: entry stop,
# breakpoint, bt, next/step, print, a hardware watchpoint (debug registers) firing on a write,
# continue to exit, hostile clients.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/gdb/gdb-common.sh"
need_kxen
gdb_guest_session kvm-xen hw
