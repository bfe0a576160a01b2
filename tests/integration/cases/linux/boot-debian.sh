#!/bin/sh
# Debian's stock 6.1 and 6.12 kernels (bzImage straight from the .deb) boot to a busybox
# initramfs on the PV console (hvc0), and a guest panic ends kxen with the crash code.
# needs: kvm-xen
# timeout: 600
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen
kernels=${KXEN_KERNEL_DIR:-${KXEN_CACHE:-/var/cache/kxen}/kernels}

# A busybox initramfs: prints a marker and facts, then panics (SHUTDOWN_crash) to end the run.
mkdir -p root/bin root/proc root/sys root/dev
cp /bin/busybox root/bin/busybox || fail "no /bin/busybox (apt-get install busybox-static)"
cat >root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "KXEN-INIT-MARKER"
echo "nproc=$(nproc)"
dmesg | grep -E 'Xen (HVM|version)|Grant table|callback vector|2-level' 
echo c >/proc/sysrq-trigger
INIT
chmod +x root/init
(cd root && find . | cpio -o -H newc 2>/dev/null | gzip) >initrd.gz

for kernel in "$kernels"/vmlinuz-6.1.* "$kernels"/vmlinuz-6.12.*; do
    [ -f "$kernel" ] || fail "no kernel $kernel (run tests/fetch-kernels)"
    name=$(basename "$kernel")
    start=$(date +%s)
    "$KXEN" run --kernel "$kernel" --initrd initrd.gz --memory 512M \
        --cmdline "console=hvc0 loglevel=4" >"$name.out" 2>"$name.err" </dev/null
    status=$?
    echo "$name: exit $status after $(($(date +%s) - start)) s"
    expect_grep '^KXEN-INIT-MARKER' "$name.out"
    expect_grep '^nproc=1' "$name.out"
    expect_grep 'Hypervisor detected: Xen HVM|Xen version' "$name.out"
    expect_grep 'Grant table(s)? (initialized|using version)' "$name.out"
    expect_grep 'Xen HVM callback vector for event delivery is enabled' "$name.out"
    expect_eq "$name exit status after the guest's panic" "$status" 3
    # The lab points kxen's kernel cache at the build dir: the unpacked payload is kept by its bzImage's SHA-256.
    if [ -n "${XDG_CACHE_HOME:-}" ]; then
        entry="$XDG_CACHE_HOME/kxen/kernels/$(sha256sum "$kernel" | cut -d' ' -f1).vmlinux"
        [ -s "$entry" ] || fail "$name: no kernel cache entry $entry"
    fi
done
exit 0
