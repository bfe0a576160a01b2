#!/bin/sh
# GRUB (grub-xen-bin, i386-xen_pvh: a 32-bit blkfront, x86_32-abi rings) on this machine's KVM
# (hypercall-page transport): its embedded config finds /boot/grub/grub.cfg on an ext2 disk,
# which prints a file of the disk and halts. lab-disk-grub boots Linux from such a disk.
# needs: kvm
# timeout: 300
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen
PATH="$PATH:/usr/sbin:/sbin"
command -v grub-mkimage >/dev/null || fail "no grub-mkimage (run tests/install-deps: grub-common, grub-xen-bin)"
command -v mke2fs >/dev/null || fail "no mke2fs (run tests/install-deps: e2fsprogs)"

cat >early.cfg <<'CFG'
echo KXEN-GRUB-MARKER
search --no-floppy --file /boot/grub/grub.cfg --set=root
set prefix=($root)/boot/grub
CFG
grub-mkimage -O i386-xen_pvh -o grub.elf -p /boot/grub -c early.cfg \
    normal echo halt ext2 search search_fs_file configfile cat || fail "grub-mkimage failed"
mkdir -p tree/boot/grub
proof="kxen disk proof $(date +%s%N)"
printf '%s\n' "$proof" >tree/boot/proof.txt
cat >tree/boot/grub/grub.cfg <<'CFG'
echo KXEN-GRUB-CFG root=$root
cat /boot/proof.txt
echo KXEN-GRUB-END
halt
CFG
mke2fs -q -F -t ext2 -d tree disk.img 16M || fail "mke2fs failed"

"$KXEN" run -v --transport hypercall-page --kernel grub.elf --disk disk.img,readonly \
    >grub.out 2>grub.err </dev/null
status=$?
sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r//g' grub.out >grub.txt
tail -n 15 grub.txt
grep -E 'blk|xenbus|warning|error' grub.err | tail -n 10
expect_eq "kxen exit status after GRUB's halt" "$status" 0
expect_grep '^KXEN-GRUB-CFG root=xen/xvda' grub.txt
expect_grep "^$proof\$" grub.txt
expect_grep '^KXEN-GRUB-END' grub.txt
expect_grep 'x86_32 ABI' grub.err
