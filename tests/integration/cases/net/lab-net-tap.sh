#!/bin/sh
# A NIC on a tap (kxen run --net tap=kxtap0) on Debian's 6.1 and 6.12: the guest's eth0 gets
# 192.0.2.2 and the MAC given, pings L1's 192.0.2.1, and a 16 MiB random file goes each way over
# TCP at once (busybox httpd/wget in the guest, Python in L1) with equal SHA-256s; kxen says
# that netfront negotiated scatter-gather, checksum offload and GSO.
# needs: kvm-xen
# timeout: 1500
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/net/net-common.sh"
need_kxen
net_tap kxtap0

SIZE=67108864
for kernel in $(blk_kernels); do
    k=$(series "$kernel")
    net_init_body | python3 "$disk_guest" initramfs "$kernel" - "net-$k.gz" --no-tools --binary ethtool || fail "initramfs for $kernel"
    net_transfer "tap-$k" "$SIZE" 192.0.2.1 http://192.0.2.2:8080/up --kernel "$kernel" --initrd "net-$k.gz" \
        --cmdline "$NET_CMDLINE kxen.test=tap kxen.size=$SIZE" --net tap=kxtap0,mac=02:00:00:12:34:56
    net_check_transfer "$k tap" "tap-$k" "$SIZE"
    check "$k tap: the guest's MAC is mac=" "$(gv "$net_text" NET-MAC)" "02:00:00:12:34:56"
    check "$k tap: one queue" "$(gv "$net_text" NET-QUEUES)" 1
    net_check_offloads "$k tap"
    check_grep "$k tap: sg, checksum offload and GSO negotiated" \
        'sg true, csum offload true, gso v4 true v6 true' "$net_log"
    check_grep "$k tap: split event channels" '1 queue\(s\), split event channels' "$net_log"
done
net_finish
