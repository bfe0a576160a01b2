#!/bin/sh
# The hostile blkfront guest (64- and 32-bit) through KVM's Xen support with direct
# vmcall/vmmcall: the frontend's kicks reach the backend's eventfd through the kernel's event
# channel routing and responses come back by KVM_XEN_HVM_EVTCHN_SEND. Same matrix and checks as
# blk/hostile-frontend: writable and read-only disks, every malformed request, a wild req_prod.
# needs: kvm-xen
# timeout: 1800
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/frontend-common.sh"
need_kxen

fe_cmdline="hcall=direct"
fe_transport_re="(vmcall|vmmcall)"
fe_matrix kvm-xen
exit 0
