#!/bin/sh
# GRUB from Debian's grub-xen-bin boots to its prompt on the PV console with the default
# transport (kvm-xen where KVM has Xen support), runs typed commands (a "sleep 1", which needs
# GRUB's clock: the pvclock KVM keeps in vcpu_info) and powers off.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/grub/grub-common.sh"
need_kxen
grub_image grub.elf
GRUB_BEFORE='sleep 1' grub_session grub-auto 600 -v --kernel grub.elf
expect_grep 'hypercall transport kvm-xen' grub-auto.err
exit 0
