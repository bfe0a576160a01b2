#!/bin/sh
# The stub on this machine's KVM (hypercall-page transport) driven by gdb in batch mode: entry
# stop, breakpoint, bt, next/step, print, a watchpoint, continue to exit, hostile clients. This
# KVM (PVM) does not fire data breakpoints from debug registers, so the watchpoint is gdb's
# single-stepped one here; lab-gdb-guest checks the hardware watchpoint on real KVM.
# needs: kvm
# timeout: 600
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/gdb/gdb-common.sh"
need_kxen
gdb_guest_session hypercall-page sw
