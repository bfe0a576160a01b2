#!/bin/sh
# Debian 6.12 with two NICs at once: eth0 on a multi-queue tap (queues=4, --vcpus 4, mtu=9000:
# the guest sees 4 queues, sets MTU 9000, pings with 8000-byte packets, shows sg and TSO on, and
# moves a 64 MiB file each way with equal SHA-256s) and eth1 on a bridge (bridge=kxbr0: kxen makes the tap, enslaves
# it, and it is gone after kxen exits), pinged from the guest.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/net/net-common.sh"
need_kxen
net_tap kxtap1 192.0.2.1/25 multi_queue
net_bridge kxbr0 192.0.2.129/25

SIZE=67108864
kernel=$(blk_kernels | tail -n 1)
k=$(series "$kernel")
net_init_body | python3 "$disk_guest" initramfs "$kernel" - "net-$k.gz" --no-tools --binary ethtool || fail "initramfs for $kernel"
net_transfer "multi-$k" "$SIZE" 192.0.2.1 http://192.0.2.2:8080/up --kernel "$kernel" --initrd "net-$k.gz" --vcpus 4 \
    --cmdline "$NET_CMDLINE kxen.test=multi kxen.size=$SIZE kxen.addr=192.0.2.2/25 kxen.mtu=9000 kxen.addr1=192.0.2.130/25 kxen.host1=192.0.2.129" \
    --net tap=kxtap1,queues=4,mtu=9000 --net bridge=kxbr0
out=$net_text
net_check_transfer "$k multi" "multi-$k" "$SIZE"
check "$k multi: two NICs" "$(gv "$out" NET-NICS)" 2
check "$k multi: eth0 has 4 queues" "$(gv "$out" NET-QUEUES)" 4
net_check_offloads "$k multi"
check "$k multi: MTU 9000 set" "$(gv "$out" NET-MTU)" 9000
check "$k multi: ping with 8000-byte packets" "$(gv "$out" PING-BIG)" 0
check "$k multi: ping over the bridge NIC" "$(gv "$out" PING1)" 0
check_grep "$k multi: eth0 connected 4 queues" 'vif 0 .*: 4 queue\(s\)' "$net_log"
check_grep "$k multi: kxen made a tap on the bridge" 'tap kxen[0-9]+ created on bridge kxbr0' "$net_log"
check "$k multi: the bridge's tap is gone after kxen" "$(ip -o link show master kxbr0 2>/dev/null | grep -c kxen)" 0
net_finish
