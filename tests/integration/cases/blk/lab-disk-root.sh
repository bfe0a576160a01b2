#!/bin/sh
# Root on the disk: Debian's 6.1 and 6.12 boot an initramfs that only loads xen-blkfront and
# ext4 and switch_roots to an ext4 image (mkfs.ext4 -d from busybox, the modules, e2fsprogs);
# the root's own /init reports its root mount, writes a file, remounts / read-only and powers
# off. On the host: e2fsck -fn is clean and the file reads back.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/blk-common.sh"
need_kxen
blk_image_dir

cat >root-init.sh <<'INIT'
echo "KXEN-ROOT-INIT"
echo "ROOT-MOUNT=$(awk '$2 == "/" && $1 != "rootfs" {print $1, $3}' /proc/mounts | tail -n 1)"
echo "ROOT-MODULES=$(ls /lib/modules/kxen | grep -c '\.ko$')"
echo "written on the disk root" >/root-proof.txt
sync
echo "ROOT-PROOF=$(cat /root-proof.txt)"
mount -o remount,ro /
echo "REMOUNT-RO=$?"
echo "KXEN-ROOT-END"
poweroff -f
INIT

for kernel in $(blk_kernels); do
    k=$(series "$kernel")
    img="$images/root-$k.img"
    python3 "$disk_guest" rootfs "$kernel" root-init.sh "$img" --size-mib 64 || fail "building the root image failed"
    python3 "$disk_guest" root-initramfs "$kernel" "switch-$k.gz" || fail "building the switch_root initramfs failed"
    blk_run "root-$k" 300 --kernel "$kernel" --initrd "switch-$k.gz" --cmdline "$BLK_CMDLINE" --disk "$img"
    out="root-$k.txt"
    check "$k: kxen exit status after poweroff -f" "$status" 0
    check_grep "$k: the initramfs switched to xvda" '^KXEN-SWITCH-ROOT xvda$' "$out"
    check_grep "$k: the disk's /init ran to its end" '^KXEN-ROOT-END$' "$out"
    check "$k: / is /dev/xvda, ext4" "$(gv "$out" ROOT-MOUNT)" "/dev/xvda ext4"
    check "$k: remount read-only" "$(gv "$out" REMOUNT-RO)" 0
    fsck_clean "$k: the root image" "$img"
    check "$k: /root-proof.txt on the host" "$(file_text "$img" /root-proof.txt)" "written on the disk root"
    [ "$failures" -eq 0 ] || show_tails
    rm -f "$img"
done
blk_finish
