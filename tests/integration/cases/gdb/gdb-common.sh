# Shared by the gdb guest cases (sourced, not a case: no shebang, not executable).
# gdb_guest_session TRANSPORT WATCH: Debian's gdb in batch mode against kxen's stub with the
# in-repo gdb guest: --gdb-wait stops at the PVH entry, a breakpoint by function name, bt,
# next/step, print, a watchpoint firing on a write (WATCH: hw, debug registers; sw, gdb's own
# single-stepping), continue to the guest's poweroff (exit 0). Then a second client is refused
# and garbage on the socket does not crash kxen.
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
continue
GDB
timeout 400 gdb -nx -batch -x script.gdb "$guest" >gdb.out 2>&1
gdb_status=$?
wait "$kxen_pid"
status=$?
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
expect_grep '\[Inferior 1 \(Remote target\) exited normally\]' gdb.out
expect_grep 'sum of squares 30' kxen.out

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
wait "$kxen_pid"
expect_eq "kxen exit status after detach" "$?" 0
expect_grep 'refused a second client' kxen2.err
}
