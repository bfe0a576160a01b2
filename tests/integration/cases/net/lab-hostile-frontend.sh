#!/bin/sh
# The hostile netfront guest (64- and 32-bit) through KVM's Xen support with direct
# vmcall/vmmcall: kicks reach the backend's eventfd through the kernel's event channel routing
# and responses come back by KVM_XEN_HVM_EVTCHN_SEND. Same run and checks as
# net/hostile-frontend: malformed packets on vif 0, two disabled rings, vif 1 still answered.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/frontend-common.sh"
need_kxen

for bits in 64 32; do
    fe_net_run net$bits $bits kvm-xen '(vmcall|vmmcall)' hcall=direct
done
exit 0
