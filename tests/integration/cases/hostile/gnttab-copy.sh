#!/bin/sh
# One GNTTABOP_copy of 2^31 - 1 operations over aliased page tables: kxen continues the call in
# bounded batches, so SIGUSR1 is answered, memory stays flat and SIGTERM stops the guest.
# needs: kvm
# timeout: 120
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/hostile/dos-common.sh"
need_kxen

dos_copy_attack --transport hypercall-page --cmdline gnttab-copy --kernel "$KXEN_BUILD/tests/guests/hostile-dos-64"
exit 0
