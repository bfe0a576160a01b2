#!/bin/sh
# The hostile blkfront guest (tests/guests/blk-frontend, 64- and 32-bit) against kxen's block
# backend through the hypercall page on this machine's own KVM (event channels in user space):
# well-formed I/O read back, every malformed request answered with its exact status, refused
# handshakes, a 4-page ring, a wild req_prod that disables the ring; on a writable and then a
# read-only disk. kxen must exit 0 every time and never crash; the image is checked on the host.
# needs: kvm
# timeout: 600
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/frontend-common.sh"
need_kxen

fe_cmdline=""
fe_transport_re="hypercall-page"
fe_matrix hypercall-page
exit 0
