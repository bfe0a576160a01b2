#!/bin/sh
# The disk cases' guest tooling (no disk needed): on Debian's 6.1 and 6.12 the initramfs of
# cases/linux/disk_guest.py loads every module tests/fetch-kernels kept (xen-blkfront,
# xen-netfront, ext4 and deps; each insmod returns 0), and e2fsprogs' mkfs.ext4 and e2fsck work
# on an 8 MiB image in the guest's tmpfs; fstrim is there.
# needs: kvm-xen
# timeout: 600
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/blk-common.sh"
need_kxen

for kernel in $(blk_kernels); do
    k=$(series "$kernel")
    blk_initrd "$kernel" "tools-$k.gz" <<'INIT'
echo "KXEN-TOOLS-START"
for m in xen_blkfront xen_netfront ext4 jbd2 mbcache crc16 crc32c_generic; do
    if [ -d "/sys/module/$m" ]; then echo "MODULE-$m=yes"; else echo "MODULE-$m=no"; fi
done
echo "CRC32C-DRIVERS=$(sed -n 's/^driver *: \(crc32c-.*\)/\1/p' /proc/crypto | sort | tr '\n' ' ')"
echo "BLOCK-DEVICES=$(ls /sys/block | grep -c '^xvd')"
dd if=/dev/zero of=/tmp/x.img bs=1M count=8 2>/dev/null
mkfs.ext4 -F -q /tmp/x.img
echo "MKFS=$?"
e2fsck -fn /tmp/x.img >/tmp/fsck.log 2>&1
echo "FSCK=$?"
sed 's/^/fsck: /' /tmp/fsck.log
echo "FSTRIM=$(command -v fstrim)"
echo "KXEN-TOOLS-END"
poweroff -f
INIT
    want=$(wc -l <"$(dirname "$kernel")/modules-$(basename "$kernel" | sed 's/^vmlinuz-//')/load.list")
    blk_run "tools-$k" 240 --kernel "$kernel" --initrd "tools-$k.gz" --cmdline "$BLK_CMDLINE"
    out="tools-$k.txt"
    check "$k: kxen exit status after poweroff -f" "$status" 0
    check_grep "$k: the init ran to its end" '^KXEN-TOOLS-END$' "$out"
    grep '^KXEN-INSMOD-FAILED' "$out" >&2
    check "$k: every kept module loaded (insmod returned 0)" \
        "$(sed -n 's/^KXEN-MODULES //p' "$out" | head -n 1)" "loaded=$want failed=0"
    for m in xen_blkfront xen_netfront ext4 jbd2 mbcache crc16 crc32c_generic; do
        check "$k: /sys/module/$m" "$(gv "$out" "MODULE-$m")" yes
    done
    echo "$k: crc32c drivers: $(gv "$out" CRC32C-DRIVERS)"
    check "$k: no xvd* block device without --disk" "$(gv "$out" BLOCK-DEVICES)" 0
    check "$k: mkfs.ext4 -F on /tmp/x.img" "$(gv "$out" MKFS)" 0
    check "$k: e2fsck -fn of the new fs" "$(gv "$out" FSCK)" 0
    check "$k: fstrim is in the initramfs" "$(gv "$out" FSTRIM | grep -c fstrim)" 1
    [ "$failures" -eq 0 ] || show_tails
done
blk_finish
