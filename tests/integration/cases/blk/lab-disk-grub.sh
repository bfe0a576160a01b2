#!/bin/sh
# GRUB (grub-xen-bin, i386-xen_pvh) as an independent blkfront: its embedded config finds
# /boot/grub/grub.cfg on an ext2 disk (read-only), and grub.cfg boots Debian's 6.12 kernel and
# an initramfs from that disk; the kernel's init prints a marker and powers off.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/blk-common.sh"
need_kxen
blk_image_dir

kernel=$(blk_kernels | grep 'vmlinuz-6\.12' | head -n 1)
[ -n "$kernel" ] || fail "no 6.12 kernel (run tests/fetch-kernels)"
printf 'echo "KXEN-BOOTED-FROM-GRUB $(uname -r)"\npoweroff -f\n' >init-body.sh
python3 "$disk_guest" initramfs "$kernel" init-body.sh initrd.gz --no-tools || fail "building the initramfs failed"
python3 "$disk_guest" grub-elf grub.elf || fail "building the GRUB image failed"
img="$images/boot.img"
python3 "$disk_guest" grub-disk "$kernel" initrd.gz "$img" --cmdline "$BLK_CMDLINE" || fail "building the boot disk failed"

blk_run grub 600 --kernel grub.elf --disk "$img,readonly"
out=grub.txt
check "kxen exit status after the kernel's poweroff -f" "$status" 0
check_grep "GRUB's embedded config ran" 'KXEN-GRUB-MARKER' "$out"
check_grep "GRUB read grub.cfg from the PV disk" 'KXEN-GRUB-CFG root=' "$out"
release_re=$(basename "$kernel" | sed 's/^vmlinuz-//; s/[.+]/\\&/g')
check_grep "the kernel GRUB loaded from the disk booted to init" "^KXEN-BOOTED-FROM-GRUB $release_re\$" "$out"
check_grep "kxen connected the disk to GRUB's blkfront" 'connected' grub.err
[ "$failures" -eq 0 ] || show_tails
blk_finish
