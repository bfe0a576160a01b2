#!/bin/sh
# User-mode networking (kxen run --net user,hostfwd=tcp::18080-:8080) on Debian's 6.12: the guest
# gets 10.0.2.15 and the DNS server 10.0.2.3 by DHCP from libslirp, resolves kxen-host.test
# through it (slirp relays to L1's resolver: a dnsmasq on 127.0.0.1 that this case starts, seen by
# kxen through a private /etc/resolv.conf) to the gateway 10.0.2.2, pings it, fetches a 64 MiB
# file from a server on L1's loopback through it, and L1 fetches the guest's 64 MiB file through
# the host forward on 127.0.0.1:18080; both arrive with equal SHA-256s.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/net/net-common.sh"
need_kxen

SIZE=67108864
command -v dnsmasq >/dev/null || fail "dnsmasq not installed (tests/install-deps)"
command -v unshare >/dev/null || fail "unshare not installed (util-linux)"
echo "10.0.2.2 kxen-host.test" >"$images/hosts"
echo "nameserver 127.0.0.1" >"$images/resolv.conf"
dnsmasq --keep-in-foreground --no-resolv --no-hosts --addn-hosts="$images/hosts" \
    --listen-address=127.0.0.1 --bind-interfaces --port=53 --user=root \
    --log-queries --log-facility="$images/dnsmasq.log" &
dnsmasq_pid=$!
net_cleanup="kill $dnsmasq_pid 2>/dev/null; $net_cleanup"
# kxen in a mount namespace of its own, where /etc/resolv.conf names that dnsmasq.
cat >"$images/kxen-private-dns" <<WRAPPER
#!/bin/sh
exec unshare --mount --propagation private sh -c 'mount --bind "\$0" /etc/resolv.conf && exec "\$@"' \\
    "$images/resolv.conf" "$KXEN" "\$@"
WRAPPER
chmod +x "$images/kxen-private-dns"
kernel=$(blk_kernels | tail -n 1)
k=$(series "$kernel")
net_init_body | python3 "$disk_guest" initramfs "$kernel" - "net-$k.gz" --no-tools || fail "initramfs for $kernel"
kxen_binary=$KXEN
KXEN="$images/kxen-private-dns"
net_transfer "user-$k" "$SIZE" 127.0.0.1 http://127.0.0.1:18080/up --kernel "$kernel" --initrd "net-$k.gz" \
    --cmdline "$NET_CMDLINE kxen.test=user kxen.size=$SIZE kxen.addr=dhcp kxen.host=10.0.2.2 kxen.hostname=kxen-host.test" \
    --net user,hostfwd=tcp::18080-:8080
KXEN=$kxen_binary
out=$net_text
check "$k user: DHCP" "$(gv "$out" NET-DHCP)" 0
check "$k user: the DHCP address" "$(gv "$out" NET-DHCP-ADDR)" 10.0.2.15
check "$k user: the DNS server offered" "$(gv "$out" NET-DHCP-DNS)" 10.0.2.3
check "$k user: nslookup kxen-host.test" "$(gv "$out" NET-NSLOOKUP)" 0
check "$k user: kxen-host.test resolves to the gateway" "$(gv "$out" NET-DNS-ADDR)" 10.0.2.2
check_grep "$k user: the query reached L1's resolver through slirp" 'query\[A\] kxen-host.test' "$images/dnsmasq.log"
net_check_transfer "$k user" "user-$k" "$SIZE"
check_grep "$k user: no GSO offered to a user-mode NIC" 'gso v4 false v6 false' "$net_log"

# A host port already in use is one line, before the guest starts (a port the kernel picked).
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("0.0.0.0", 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' >busy.port &
holder=$!
n=0
while [ ! -s busy.port ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
busy=$(cat busy.port)
"$KXEN" run --kernel "$kernel" --net "user,hostfwd=tcp::$busy-:80" >busy.out 2>busy.err </dev/null
check "user: a busy host port is a usage error" "$?" 2
check_grep "user: it says which port" "hostfwd tcp::$busy-:80: host port $busy is in use" busy.err
kill "$holder" 2>/dev/null
net_finish
