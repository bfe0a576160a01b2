#!/bin/sh
# Debian 6.12 under gdb (kvm-xen, 2 vCPUs, nokaslr): --gdb-wait, a hardware breakpoint at
# start_kernel (address from /proc/kallsyms of a first boot) stops there, x/5i $pc, continue to
# init, Ctrl-C (SIGINT to gdb) stops all vCPUs, info threads lists 2, monitor evtchn lists the
# timer VIRQs and IPIs, detach, and the guest powers off by itself.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen
command -v gdb >/dev/null || fail "gdb not installed"
kernels=${KXEN_KERNEL_DIR:-${KXEN_CACHE:-/var/cache/kxen}/kernels}
kernel=$(ls "$kernels"/vmlinuz-6.12* 2>/dev/null | head -n 1)
[ -f "$kernel" ] || fail "no vmlinuz-6.12 in $kernels (run tests/fetch-kernels)"

mkdir -p root/bin root/proc root/sys root/dev
cp /bin/busybox root/bin/busybox || fail "no /bin/busybox (apt-get install busybox-static)"
cat >root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
echo "START_KERNEL=$(grep ' start_kernel$' /proc/kallsyms | cut -d' ' -f1)"
echo "KXEN-INIT-MARKER"
sleep "$(sed -n 's/.*waitsecs=\([0-9]*\).*/\1/p' /proc/cmdline)"
echo "KXEN-POWEROFF"
poweroff -f
INIT
chmod +x root/init
(cd root && find . | cpio -o -H newc 2>/dev/null | gzip) >initrd.gz
cmdline="console=hvc0 loglevel=4 nokaslr"

# First boot: where start_kernel is.
"$KXEN" run --kernel "$kernel" --initrd initrd.gz --vcpus 2 --cmdline "$cmdline waitsecs=0" >first.out 2>first.err </dev/null
addr=$(sed -n 's/^START_KERNEL=\([0-9a-f]*\).*/\1/p' first.out | head -n 1)
[ -n "$addr" ] || fail "no start_kernel address in the first boot's output"

sock="$PWD/gdb.sock"
rm -f "$sock"
"$KXEN" run --kernel "$kernel" --initrd initrd.gz --vcpus 2 --cmdline "$cmdline waitsecs=30" \
    --gdb "unix:$sock" --gdb-wait -v >second.out 2>second.err </dev/null &
kxen_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
cat >script.gdb <<GDB
set pagination off
set confirm off
set architecture i386:x86-64
target remote $sock
hbreak *0x$addr
continue
printf "stopped at %#lx\n", \$pc
x/5i \$pc
delete
continue
info threads
monitor evtchn
monitor vcpus
detach
GDB
gdb -nx -batch -x script.gdb >gdb.out 2>&1 &
gdb_pid=$!
for _ in $(seq 600); do grep -q '^KXEN-INIT-MARKER' second.out && break; sleep 0.5; done
grep -q '^KXEN-INIT-MARKER' second.out || fail "the guest did not reach init under gdb"
kill -INT "$gdb_pid"
wait "$gdb_pid"
wait "$kxen_pid"
status=$?
cat gdb.out
expect_grep "^stopped at 0x$addr\$" gdb.out
expect_grep "^=> 0x$addr" gdb.out
expect_grep 'received signal SIGINT' gdb.out
expect_grep 'Thread 2 .*vCPU 1' gdb.out
expect_grep 'virq +0 ' gdb.out     # VIRQ_TIMER
expect_grep ' ipi ' gdb.out
expect_grep '^KXEN-POWEROFF' second.out
expect_eq "kxen exit status" "$status" 0
exit 0
