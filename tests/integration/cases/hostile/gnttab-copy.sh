#!/bin/sh
# One GNTTABOP_copy of 2^31 - 1 operations over aliased page tables: kxen continues the call in
# bounded batches, so SIGUSR1 is answered, memory stays flat and SIGTERM stops the guest.
# timeout: 120
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/hostile/dos-common.sh"
need_kxen

dos_start copy --transport hypercall-page --cmdline gnttab-copy --kernel "$KXEN_BUILD/tests/guests/hostile-dos-64"
dos_wait_marker 'gnttab-copy: one GNTTABOP_copy' 60
before=$(dos_rss_kib)
sleep 2
dos_check_sigusr1
dos_check_continuations 100
dos_check_growth "2 s of copy operations" "$before" "$(dos_rss_kib)" 2048
dos_check_sigterm
exit 0
