#!/bin/sh
# A NIC on a tap (kxen run --net tap=...) on Debian's 6.1 and 6.12: the guest's eth0 gets
# 192.0.2.2 and the MAC given, pings L1's 192.0.2.1, and a 64 MiB random file goes each way over
# TCP at once (busybox httpd/wget in the guest, Python in L1) with equal SHA-256s; kxen says
# that netfront negotiated scatter-gather, checksum offload and GSO. The first kernel's tap is
# multi-queue with queues=4 while the 1-vCPU netfront takes one: kxen must detach the other
# three (L1 sees one queue), or flows hashed onto them never reach the guest.
# needs: kvm-xen
# timeout: 1500
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/net/net-common.sh"
need_kxen

SIZE=67108864
first=yes
for kernel in $(blk_kernels); do
    k=$(series "$kernel")
    if [ "$first" = yes ]; then
        tap=kxtapq queues=4
        net_tap "$tap" 192.0.2.1/24 multi_queue
    else
        ip link del kxtapq 2>/dev/null
        tap=kxtap0 queues=1
        net_tap "$tap"
    fi
    net_host_tap=$tap
    net_init_body | python3 "$disk_guest" initramfs "$kernel" - "net-$k.gz" --no-tools --binary ethtool || fail "initramfs for $kernel"
    net_transfer "tap-$k" "$SIZE" 192.0.2.1 http://192.0.2.2:8080/up --kernel "$kernel" --initrd "net-$k.gz" \
        --cmdline "$NET_CMDLINE kxen.test=tap kxen.size=$SIZE" --net "tap=$tap,mac=02:00:00:12:34:56,queues=$queues"
    net_check_transfer "$k tap" "tap-$k" "$SIZE"
    check "$k tap: the guest's MAC is mac=" "$(gv "$net_text" NET-MAC)" "02:00:00:12:34:56"
    check "$k tap: one queue" "$(gv "$net_text" NET-QUEUES)" 1
    check "$k tap: queues=$queues, the tap has one queue attached" "$(gv "tap-$k.host" HOST-TAP-QUEUES)" 1
    first=no
    net_check_offloads "$k tap"
    check_grep "$k tap: sg, checksum offload and GSO negotiated" \
        'sg true, csum offload true, gso v4 true v6 true' "$net_log"
    check_grep "$k tap: split event channels" '1 queue\(s\), split event channels' "$net_log"
done
net_finish
