#!/bin/sh
# GRUB from Debian's grub-xen-bin (grub-mkimage -O i386-xen_pvh) boots to its prompt on the
# PV console through the hypercall-page transport on this machine's own KVM, runs typed
# 'sleep 1' and 'sleep 3' (GRUB's clock: the pvclock kxen publishes) timed against host time,
# a typed command, and powers off with "halt".
# needs: kvm
# timeout: 600
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/grub/grub-common.sh"
need_kxen
grub_image grub.elf
GRUB_TIMED_SLEEP=1 grub_session grub-page 240 -v --transport hypercall-page --kernel grub.elf
expect_grep 'transport hypercall-page' grub-page.err
exit 0
