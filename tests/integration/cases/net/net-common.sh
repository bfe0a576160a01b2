# Shared by the net cases (sourced, not a case). Guests are Debian's kernels with the disk
# initramfs of cases/linux/disk_guest.py (busybox, xen-netfront); kxen runs, console checks and
# the checks' bookkeeping are blk-common.sh's. Only interfaces the case creates are used, with
# addresses from 192.0.2.0/24 (L1 has no NIC).
. "$KXEN_SRC/tests/integration/cases/blk/blk-common.sh"
net_host="$KXEN_SRC/tests/integration/cases/net/net_host.py"
# loglevel=3: kernel notices (link up...) stay off the console lines the checks parse.
NET_CMDLINE="console=hvc0 loglevel=3"
PATH="$PATH:/usr/sbin:/sbin"

# Consoles and logs are written and read in $images, L1's tmpfs (blk_start): a console on the
# case's 9p share has come back with a line missing; blk_wait copies them to the case dir.
images=$(mktemp -d /tmp/kxen-net.XXXXXX) || fail "mktemp failed"
net_cleanup="rm -rf $images;"
trap 'eval "$net_cleanup"' EXIT
trap 'exit 143' TERM INT

# net_tap NAME [ADDR [MODE...]]: a tap NAME with ADDR (default 192.0.2.1/24), up, made with
# `ip tuntap add` MODE words (e.g. multi_queue); removed when the case ends.
net_tap() {
    tap=$1
    taddr=${2:-192.0.2.1/24}
    shift $(($# < 2 ? $# : 2))
    ip tuntap add dev "$tap" mode tap "$@" || fail "ip tuntap add $tap failed"
    net_cleanup="$net_cleanup ip link del $tap 2>/dev/null;"
    trap 'eval "$net_cleanup"' EXIT
    ip addr add "$taddr" dev "$tap" && ip link set "$tap" up || fail "configuring $tap failed"
}

# net_bridge NAME ADDR: a bridge with ADDR, up; removed when the case ends.
net_bridge() {
    ip link add "$1" type bridge || fail "ip link add $1 type bridge failed"
    net_cleanup="$net_cleanup ip link del $1 2>/dev/null;"
    trap 'eval "$net_cleanup"' EXIT
    ip addr add "$2" dev "$1" && ip link set "$1" up || fail "configuring $1 failed"
}

# The guest: eth0 up (kxen.addr=A.B.C.D/N, or DHCP with kxen.addr=dhcp, which also takes the
# DNS server offered; MTU from kxen.mtu=), eth1 too with kxen.addr1= (pinging kxen.host1=), pings
# kxen.host= (default 192.0.2.1; with kxen.hostname=NAME, the address NAME resolves to), reports
# eth0's offloads (ethtool -k, when the initramfs has ethtool), then kxen.size= random bytes
# served by busybox httpd on :8080 while it fetches the host's /down from kxen.host:8081, and it
# waits for the host's /done before powering off.
net_init_body() {
    cat <<'INIT'
mode=$(arg test)
host=$(arg host)
host=${host:-192.0.2.1}
addr=$(arg addr)
addr=${addr:-192.0.2.2/24}
echo "KXEN-INIT mode=$mode"
n=0
while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
echo "NET-ETH0=$([ -e /sys/class/net/eth0 ] && echo yes || echo no)"
echo "NET-MAC=$(cat /sys/class/net/eth0/address)"
echo "NET-QUEUES=$(ls /sys/class/net/eth0/queues | grep -c '^rx-')"
echo "NET-NICS=$(ls /sys/class/net | grep -c '^eth')"
ip link set lo up
ip link set eth0 up
mtu=$(arg mtu)
[ -n "$mtu" ] && { ip link set eth0 mtu "$mtu"; echo "NET-MTU-SET=$?"; }
echo "NET-MTU=$(cat /sys/class/net/eth0/mtu)"
if [ "$addr" = dhcp ]; then
    cat >/tmp/dhcp.sh <<'EOS'
#!/bin/sh
[ "$1" = bound ] || exit 0
ifconfig "$interface" "$ip" netmask "$subnet" up
route add default gw "$router" "$interface"
echo "NET-DHCP-ADDR=$ip"
mkdir -p /etc
for server in $dns; do echo "nameserver $server"; done >/etc/resolv.conf
echo "NET-DHCP-DNS=$dns"
EOS
    chmod +x /tmp/dhcp.sh
    udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 10 -T 3 >/tmp/dhcp.out 2>&1; echo "NET-DHCP=$?"
    grep -E '^NET-DHCP-(ADDR|DNS)=' /tmp/dhcp.out
else
    ip addr add "$addr" dev eth0
fi
addr1=$(arg addr1)
if [ -n "$addr1" ]; then
    n=0
    while [ ! -e /sys/class/net/eth1 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    ip link set eth1 up
    ip addr add "$addr1" dev eth1
    n=0
    until ping -c 1 -W 2 "$(arg host1)" >/dev/null 2>&1 || [ $n -ge 10 ]; do n=$((n + 1)); done
    ping -c 3 -W 5 "$(arg host1)" >/dev/null 2>&1; echo "PING1=$?"
fi
hostname=$(arg hostname)
if [ -n "$hostname" ]; then
    # busybox's nslookup asks the resolv.conf server itself (no libc resolver in a static binary).
    nslookup -type=a "$hostname" >/tmp/nslookup 2>&1; echo "NET-NSLOOKUP=$?"
    resolved=$(sed -n '/^Name:/,$ s/^Address: *\([0-9.]*\).*/\1/p' /tmp/nslookup | head -n 1)
    echo "NET-DNS-ADDR=$resolved"
    host=${resolved:-$host}
fi
n=0
until ping -c 1 -W 2 "$host" >/dev/null 2>&1 || [ $n -ge 10 ]; do n=$((n + 1)); done
ping -c 3 -W 5 "$host" >/tmp/ping 2>&1; echo "PING=$?"
if command -v ethtool >/dev/null; then
    ethtool -k eth0 >/tmp/ethtool 2>&1
    for feature in scatter-gather tcp-segmentation-offload tx-checksumming; do
        echo "NET-ETHTOOL-$feature=$(sed -n "s/^$feature: \([a-z]*\).*/\1/p" /tmp/ethtool)"
    done
fi
ping -c 2 -W 5 -s 8000 "$host" >/tmp/ping-big 2>&1; echo "PING-BIG=$?"
mkdir -p /tmp/www
head -c "$(arg size)" /dev/urandom >/tmp/www/up
echo "GUEST-UP-SHA=$(sha /tmp/www/up)"
httpd -p 8080 -h /tmp/www
echo "KXEN-NET-READY"
wget -q -O /tmp/down "http://$host:8081/down"; echo "WGET=$?"
echo "GUEST-DOWN-SHA=$(sha /tmp/down)"
n=0
until wget -q -O /dev/null "http://$host:8081/done" 2>/dev/null || [ $n -ge 600 ]; do sleep 1; n=$((n + 1)); done
grep eth /proc/net/dev | sed 's/^/NET-DEV: /'
dmesg | grep -iE 'netfront|eth0|xen_net' | sed 's/^/dmesg: /'
echo "KXEN-DONE mode=$mode"
poweroff -f
INIT
}

# net_transfer NAME SIZE BIND GUEST-URL KXEN-RUN-ARGS...: boots the guest (blk_start), serves
# /down on BIND:8081 and fetches GUEST-URL until the guest is done, waits for kxen (blk_wait);
# the host's lines go to NAME.host. With net_host_tap=TAP set, they include TAP's attached queues.
net_transfer() {
    tname=$1
    tsize=$2
    tbind=$3
    turl=$4
    shift 4
    blk_start "$tname" "$@"
    # Bounded well inside the case's timeout, so a stalled transfer still reports its checks.
    python3 "$net_host" transfer --console "$console" --bind "$tbind" --guest "$turl" \
        --size "$tsize" --timeout 300 ${net_host_tap:+--tap "$net_host_tap"} >"$tname.host" 2>&1
    blk_wait 60
    [ "$status" -eq 0 ] || show_tails
    cat "$tname.host"
    net_text=$text
    net_log=$log
}

# net_check_transfer LABEL NAME SIZE: the ping and the file each way arrived whole (NAME is the
# last net_transfer's).
net_check_transfer() {
    out=$net_text
    check "$1: kxen exit status after poweroff -f" "$status" 0
    check_grep "$1: the guest ran to its end" '^KXEN-DONE' "$out"
    check "$1: eth0 appeared" "$(gv "$out" NET-ETH0)" yes
    check "$1: ping 192.0.2.1" "$(gv "$out" PING)" 0
    check "$1: the guest fetched /down" "$(gv "$out" WGET)" 0
    check "$1: host->guest file (sha256)" "$(gv "$out" GUEST-DOWN-SHA)" "$(gv "$2.host" HOST-DOWN-SHA)"
    check "$1: guest->host file (sha256)" "$(gv "$2.host" HOST-UP-SHA)" "$(gv "$out" GUEST-UP-SHA)"
    check "$1: guest->host bytes" "$(gv "$2.host" HOST-UP-BYTES)" "$3"
    echo "$1: guest->host took $(gv "$2.host" HOST-UP-SECONDS) s"
}

# net_check_offloads LABEL: the guest's ethtool -k shows scatter-gather, TSO and tx checksumming on.
net_check_offloads() {
    check "$1: ethtool: scatter-gather" "$(gv "$net_text" NET-ETHTOOL-scatter-gather)" on
    check "$1: ethtool: tcp-segmentation-offload" "$(gv "$net_text" NET-ETHTOOL-tcp-segmentation-offload)" on
    check "$1: ethtool: tx-checksumming" "$(gv "$net_text" NET-ETHTOOL-tx-checksumming)" on
}

# net_finish: the case's verdict; after a failure, each run's console lines as they were read.
net_finish() {
    if [ "$failures" -ne 0 ]; then
        for _text in "$images"/*.txt; do
            echo "--- the guest's lines in $(basename "$_text"):"
            grep -an -E 'NET-|PING|WGET|GUEST-|KXEN-' "$_text" | cat -v
            echo "--- the end of kxen's log for it:"
            tail -n 12 "${_text%.txt}.err"
        done
    fi
    blk_finish
}
