#!/bin/sh
# The hostile netfront guest (tests/guests/net-frontend, 64- and 32-bit) against kxen's network
# backend through the hypercall page on this machine's KVM, on two --net user NICs (libslirp, no
# root): vif 0 posts no rx buffers and sends every malformed tx packet, each answered with its
# exact status, then an extra of an unknown type (ring disabled, vif 0 reconnects) and a wild
# req_prod (ring disabled); vif 1 must keep getting ARP replies from slirp's gateway after each.
# kxen must exit 0 every time, never crash, and log both rings it disabled.
# needs: kvm
# timeout: 300
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/frontend-common.sh"
need_kxen

for bits in 64 32; do
    fe_net_run net$bits $bits hypercall-page hypercall-page
done
exit 0
