#!/bin/sh
# SIGUSR1 makes kxen log where each vCPU is (run state, RIP, exit statistics) and the guest goes
# on: here GRUB, waiting at its prompt on this machine's KVM, still answers a command afterwards.
# needs: kvm
# timeout: 600
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/grub/grub-common.sh"
need_kxen
grub_image grub.elf
# shellcheck disable=SC2016 # expanded by grub_session at the prompt
GRUB_AT_PROMPT='kill -USR1 "$kxen_pid"; sleep 3'
grub_session state 240 --transport hypercall-page --kernel grub.elf
expect_grep 'vcpu0: .*rip=0x[0-9a-f]+ .*[0-9]+ exits; .* s in KVM_RUN.*hypercalls: ' state.err
exit 0
