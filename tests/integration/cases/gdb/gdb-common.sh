# Shared by the gdb guest cases (sourced, not a case: no shebang, not executable).
# gdb_guest_session TRANSPORT WATCH: Debian's gdb in batch mode against kxen's stub with the
# in-repo gdb guest: --gdb-wait stops at the PVH entry, a breakpoint by function name, bt,
# next/step, print, a watchpoint firing on a write (WATCH: hw, debug registers; sw, gdb's own
# single-stepping), a reboot that gdb stays connected through (its breakpoint stops the new
# boot), continue to the guest's poweroff (exit 0). Then a second client is refused and garbage
# on the socket does not crash kxen.
# wait_kxen SECONDS: waits for kxen ($kxen_pid) to end and sets $status; one still running after
# SECONDS (a guest left spinning) gets SIGUSR1 (its vCPUs' state in the log), then SIGKILL.
wait_kxen() {
    _n=0
    while kill -0 "$kxen_pid" 2>/dev/null && [ "$_n" -lt $(($1 * 10)) ]; do
        sleep 0.1
        _n=$((_n + 1))
    done
    if kill -0 "$kxen_pid" 2>/dev/null; then
        echo "kxen still running $1 s after gdb ended: SIGUSR1, then SIGKILL"
        kill -USR1 "$kxen_pid"
        sleep 2
        kill -KILL "$kxen_pid" 2>/dev/null
    fi
    wait "$kxen_pid"
    status=$?
}

gdb_guest_session() {
transport=$1
case $2 in
  hw) watch_setting='' watch_kind='Hardware watchpoint' ;;
  sw) watch_setting='set can-use-hw-watchpoints 0' watch_kind='Watchpoint' ;;
  *) fail "gdb_guest_session: watch kind $2" ;;
esac
command -v gdb >/dev/null || fail "gdb not installed (apt-get install gdb)"

guest="$KXEN_BUILD/tests/guests/gdb-64"
sock="$PWD/gdb.sock"
rm -f "$sock"
"$KXEN" run --transport "$transport" --kernel "$guest" --gdb "unix:$sock" --gdb-wait -v \
    >kxen.out 2>kxen.err &
kxen_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "kxen did not listen on $sock"

cat >script.gdb <<GDB
set pagination off
set confirm off
$watch_setting
target remote $sock
printf "entry pc %#lx\n", \$pc
info threads
break sum_of_squares
continue
bt
next
next
step
bt
print x
finish
watch gdb_watched
continue
print gdb_watched
delete
monitor vcpus
monitor hypercalls
monitor xenstore ls /local/domain
break sum_of_squares
set var gdb_reboot_requested = 1
continue
printf "after the reboot: requested %d, watched %lu\n", gdb_reboot_requested, gdb_watched
delete
continue
GDB
timeout 400 gdb -nx -batch -x script.gdb "$guest" >gdb.out 2>&1
gdb_status=$?
wait_kxen 30
cat gdb.out
cat kxen.err | tail -20
expect_eq "gdb exit status" "$gdb_status" 0
expect_eq "kxen exit status" "$status" 0
entry=$(nm "$guest" | awk '$3 == "rt_pvh_entry" {print $1}' | sed 's/^0*//')
expect_grep "^entry pc 0x$entry\$" gdb.out
expect_grep 'Thread 1 .*vCPU 0' gdb.out
expect_grep 'Breakpoint 1, sum_of_squares \(n=4\)' gdb.out
expect_grep '^#1 .* main \(\)' gdb.out
expect_grep '^square \(x=1\)' gdb.out
expect_grep '^\$1 = 1$' gdb.out
expect_grep "^$watch_kind 2: gdb_watched" gdb.out
expect_grep '^New value = 30$' gdb.out
expect_grep 'vcpu0: rip' gdb.out
expect_grep '^  xen_version' gdb.out
expect_grep 'Breakpoint 3, sum_of_squares \(n=4\)' gdb.out
expect_grep '^after the reboot: requested 0, watched 0$' gdb.out
expect_grep 'gdb: the guest rebooted; its 1 breakpoint' kxen.err
expect_grep '\[Inferior 1 \(Remote target\) exited normally\]' gdb.out
expect_eq "boots that printed their sum" "$(grep -c 'sum of squares 30' kxen.out)" 2

# Hostile input: garbage, a bad checksum and a second client, then a clean detach.
rm -f "$sock"
"$KXEN" run --transport "$transport" --kernel "$guest" --gdb "unix:$sock" --gdb-wait \
    >kxen2.out 2>kxen2.err &
kxen_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
python3 - "$sock" <<'PY' || fail "hostile client script failed"
import socket, sys, time
def frame(p): return b'$' + p + b'#%02x' % (sum(p) & 0xff)
a = socket.socket(socket.AF_UNIX); a.connect(sys.argv[1])
time.sleep(0.3)
b = socket.socket(socket.AF_UNIX); b.connect(sys.argv[1])
b.settimeout(5)
assert b.recv(10) == b'', 'a second client was served'
a.settimeout(10)
a.sendall(b'\x00\xff$g#00' + b'$' + b'A' * 10000 + b'#00' + frame(b'Z9,0,1') + frame(b'mzz,1'))
time.sleep(0.5)
got = a.recv(4096)
assert got.count(b'-') >= 2 and b'$E01#a6' in got, got
a.sendall(frame(b'D'))
time.sleep(0.5)
assert b'$OK#9a' in a.recv(4096)
PY
wait_kxen 30
expect_eq "kxen exit status after detach" "$status" 0
expect_grep 'refused a second client' kxen2.err
}

# gdb_smp_session: the gdb guest with 2 vCPUs (kvm-xen, "smp" on its command line): gdb lists
# both threads from the first stop, a breakpoint in ap_work(), which only vCPU 1 runs, stops
# with thread 2 current, its argument prints, and the guest runs on to its poweroff.
gdb_smp_session() {
guest="$KXEN_BUILD/tests/guests/gdb-64"
sock="$PWD/gdb-smp.sock"
rm -f "$sock"
"$KXEN" run --transport kvm-xen --vcpus 2 --kernel "$guest" --cmdline smp --gdb "unix:$sock" --gdb-wait -v \
    >smp.out 2>smp.err &
kxen_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "kxen did not listen on $sock"
cat >smp.gdb <<GDB
set pagination off
set confirm off
target remote $sock
info threads
break ap_work
continue
info threads
bt
print x
printf "current thread %d\n", \$_thread
delete
continue
GDB
timeout 400 gdb -nx -batch -x smp.gdb "$guest" >smp-gdb.out 2>&1
gdb_status=$?
wait_kxen 30
cat smp-gdb.out
tail -n 20 smp.err
expect_eq "gdb exit status (2 vCPUs)" "$gdb_status" 0
expect_eq "kxen exit status (2 vCPUs)" "$status" 0
expect_grep '^ *2 +Thread 2 .*vCPU 1' smp-gdb.out
expect_grep 'Thread 2 .*hit Breakpoint 1, ap_work \(x=14\)' smp-gdb.out
expect_grep '^current thread 2$' smp-gdb.out
expect_grep '^\$1 = 14$' smp-gdb.out
expect_grep '\[Inferior 1 \(Remote target\) exited normally\]' smp-gdb.out
expect_grep 'vCPU 1 computed 42' smp.out
}
