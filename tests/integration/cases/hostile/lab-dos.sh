#!/bin/sh
# The denial-of-service findings through KVM's Xen support: XenStore floods inside one
# transaction keep kxen's memory flat, a huge GNTTABOP_copy continues through VMCALL exits, and
# 2-vCPU guests that name vCPU 1 in their first hypercalls start cleanly again and again.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/hostile/dos-common.sh"
need_kxen
guest=$KXEN_BUILD/tests/guests/hostile-dos-64

for attack in xs-tx-write xs-enospc; do
    dos_start "$attack" --transport kvm-xen --cmdline "hcall=direct $attack" --kernel "$guest"
    dos_wait_marker "$attack: transaction [0-9]+ open" 60
    before=$(dos_rss_kib)
    # About 4 exits a request, 1 ms each in the lab: 10,000 requests take 40 s to 80 s. Before
    # the quotas, a request cost 160 to 225 bytes for good: 1.6 to 2.2 MiB here.
    dos_wait_marker "$attack: 10000 " 400
    grep -aE "hostile-dos: $attack: 10000 " "$attack.out"
    dos_check_growth "10,000 requests in one transaction" "$before" "$(dos_rss_kib)" 1024
    dos_check_sigusr1
    dos_check_sigterm
done

dos_copy_attack --transport kvm-xen --cmdline "hcall=direct gnttab-copy" --kernel "$guest"

# Each start races vCPU 0's first hypercalls naming vCPU 1 against vCPU 1's thread start.
starts=${KXEN_PEER_STARTS:-40}
n=0
while [ $n -lt "$starts" ]; do
    "$KXEN" run --transport kvm-xen --vcpus 2 --cmdline "hcall=direct vcpu-peer" --kernel "$guest" \
        >peer.out 2>peer.err
    status=$?
    [ $status -eq 0 ] || { cat peer.out peer.err; fail "start $n of $starts: kxen exited $status"; }
    n=$((n + 1))
done
grep -E 'vcpu-peer:' peer.out
echo "$starts starts of a 2-vCPU guest naming vCPU 1 first: all powered off cleanly"
exit 0
