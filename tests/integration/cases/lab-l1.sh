#!/bin/sh
# The lab's L1 gives cases what they need: Xen-capable KVM and the shared file view.
# needs: kvm-xen
# timeout: 60
. "$KXEN_SRC/tests/integration/lib.sh"

# The probe passes: INTERCEPT_HCALL and EVTCHN_SEND (LAB.md measured 511, every flag).
"$KXEN_SRC/tests/lab/kvm-xen-caps" >caps.txt || { cat caps.txt; fail "probe failed"; }
expect_grep ' INTERCEPT_HCALL ' caps.txt
expect_grep ' EVTCHN_SEND( |$)' caps.txt
[ -c /dev/kvm ] || fail "/dev/kvm is not a character device"

# Network tests' modules are loaded.
for mod in tun bridge kvm_amd; do
    grep -q "^$mod " /proc/modules || fail "module $mod not loaded"
done

# The case's scratch dir is writable and /tmp is a tmpfs.
echo written >"$KXEN_SCRATCH/probe" || fail "scratch not writable"
expect_eq "/tmp fs type" "$(stat -f -c %T /tmp)" "tmpfs"
exit 0
