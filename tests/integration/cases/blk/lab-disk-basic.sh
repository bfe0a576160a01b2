#!/bin/sh
# Disks on Debian's 6.1 and 6.12 (kxen run --disk): two at once (xvda 256 MiB sparse with 2
# queues through io_uring, the default, xvdb 64 MiB with cache=none and aio=sync): their sizes, mkfs.ext4 and files written by the guest,
# read back after a remount, then e2fsck -fn clean and the same SHA-256 through debugfs on the
# host; a readonly disk: mount -o ro works, writes fail, the image is unchanged; fstrim after a
# big file is deleted lowers the image's allocated blocks (discard=on), and fails with
# discard=off without freeing any.
# needs: kvm-xen
# timeout: 1800
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/blk-common.sh"
need_kxen
blk_image_dir

MiB=1048576
# mkfs.ext4 writes its inode tables and journal at once: no lazy init writing in the background
# while the host counts the image's blocks.
MKFS="mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0"

# The guest acts on kxen.test=<mode>; every mode ends with poweroff -f (kxen exits 0).
init_body() {
    cat <<INIT
MKFS="$MKFS"
INIT
    cat <<'INIT'
mode=$(arg test)
echo "KXEN-INIT mode=$mode"
case $mode in
two)
    wait_block xvda && wait_block xvdb || poweroff -f
    echo "XVDA-SECTORS=$(cat /sys/block/xvda/size)"
    echo "XVDB-SECTORS=$(cat /sys/block/xvdb/size)"
    echo "XVDA-RO=$(cat /sys/block/xvda/ro)"
    echo "XVDA-QUEUES=$(ls /sys/block/xvda/mq | wc -l)"
    $MKFS /dev/xvda; echo "MKFS-A=$?"
    $MKFS /dev/xvdb; echo "MKFS-B=$?"
    mkdir -p /mnt/a /mnt/b
    mount -t ext4 /dev/xvda /mnt/a; echo "MOUNT-A=$?"
    mount -t ext4 /dev/xvdb /mnt/b; echo "MOUNT-B=$?"
    head -c 20971520 /dev/urandom >/tmp/big
    head -c 3000000 /dev/urandom >/tmp/mid
    echo "BIG-SHA=$(sha /tmp/big)"
    echo "MID-SHA=$(sha /tmp/mid)"
    cp /tmp/big /mnt/a/big.bin && cp /tmp/mid /mnt/b/mid.bin; echo "COPY=$?"
    echo "hello from xvda" >/mnt/a/small.txt
    echo "hello from xvdb" >/mnt/b/small.txt
    mkdir /mnt/a/many
    i=1
    while [ $i -le 200 ]; do echo "file $i" >/mnt/a/many/f$i; i=$((i + 1)); done
    sync; echo "SYNC=$?"
    umount /mnt/a && umount /mnt/b; echo "UMOUNT=$?"
    echo 3 >/proc/sys/vm/drop_caches
    # Read back from the disks, not from the page cache.
    mount -t ext4 -o ro /dev/xvda /mnt/a && mount -t ext4 -o ro /dev/xvdb /mnt/b
    echo "REREAD-BIG-SHA=$(sha /mnt/a/big.bin)"
    echo "REREAD-MID-SHA=$(sha /mnt/b/mid.bin)"
    echo "REREAD-MANY=$(cat /mnt/a/many/f* | wc -l)"
    umount /mnt/a /mnt/b ;;
ro)
    wait_block xvda || poweroff -f
    echo "RO-FLAG=$(cat /sys/block/xvda/ro)"
    mount -t ext4 -o ro /dev/xvda /mnt; echo "RO-MOUNT=$?"
    echo "RO-HELLO=$(cat /mnt/hello.txt)"
    touch /mnt/new 2>/dev/null; echo "RO-TOUCH=$?"
    umount /mnt
    dd if=/dev/urandom of=/dev/xvda bs=4096 count=1 seek=100 oflag=direct conv=fsync 2>/tmp/err
    echo "RO-DD-DIRECT=$?"
    echo "RO-DD-DIRECT-ERROR=$(grep dd: /tmp/err | tail -n 1)"
    dd if=/dev/urandom of=/dev/xvda bs=4096 count=16 seek=200 conv=fsync 2>/tmp/err
    echo "RO-DD-BUFFERED=$?"
    echo "RO-DD-BUFFERED-ERROR=$(grep dd: /tmp/err | tail -n 1)" ;;
fill)
    wait_block xvda && wait_block xvdb || poweroff -f
    echo "A-DISCARD-MAX=$(cat /sys/block/xvda/queue/discard_max_bytes)"
    echo "B-DISCARD-MAX=$(cat /sys/block/xvdb/queue/discard_max_bytes)"
    $MKFS /dev/xvda; echo "MKFS-A=$?"
    $MKFS /dev/xvdb; echo "MKFS-B=$?"
    mkdir -p /mnt/a /mnt/b
    mount -t ext4 /dev/xvda /mnt/a && mount -t ext4 /dev/xvdb /mnt/b; echo "MOUNT=$?"
    dd if=/dev/urandom of=/mnt/a/big bs=1M count=64 iflag=fullblock 2>/dev/null; echo "FILL-A=$?"
    dd if=/dev/urandom of=/mnt/b/big bs=1M count=24 iflag=fullblock 2>/dev/null; echo "FILL-B=$?"
    sync
    umount /mnt/a /mnt/b ;;
trim)
    wait_block xvda && wait_block xvdb || poweroff -f
    mkdir -p /mnt/a /mnt/b
    mount -t ext4 /dev/xvda /mnt/a && mount -t ext4 /dev/xvdb /mnt/b; echo "MOUNT=$?"
    rm /mnt/a/big /mnt/b/big
    sync
    fstrim -v /mnt/a >/tmp/out 2>&1; echo "TRIM-A=$?"
    echo "TRIM-A-SAYS=$(tail -n 1 /tmp/out)"
    fstrim -v /mnt/b >/tmp/out 2>&1; echo "TRIM-B=$?"
    echo "TRIM-B-SAYS=$(tail -n 1 /tmp/out)"
    umount /mnt/a /mnt/b ;;
esac
dmesg | grep -iE 'blkfront|xvd|ext4|I/O error' | sed 's/^/dmesg: /'
echo "KXEN-DONE mode=$mode"
poweroff -f
INIT
}

for kernel in $(blk_kernels); do
    k=$(series "$kernel")
    init_body | blk_initrd "$kernel" "disk-$k.gz"
    boot() { mode=$1; shift; blk_run "$mode-$k" 480 --kernel "$kernel" --initrd "disk-$k.gz" \
        --cmdline "$BLK_CMDLINE kxen.test=$mode" "$@"; }

    # Two disks at once: the first with the default vdev (xvda), the second named.
    a="$images/a-$k.img"
    b="$images/b-$k.img"
    truncate -s 256M "$a" && truncate -s 64M "$b" || fail "truncate failed"
    boot two --vcpus 2 --disk "$a,queues=2" --disk "$b,vdev=xvdb,cache=none,aio=sync"
    out="two-$k.txt"
    check_grep "$k two: xvda goes through io_uring (the default)" 'blk xvda: .* aio=io_uring' "two-$k.err"
    check_grep "$k two: xvdb is served synchronously (aio=sync)" 'blk xvdb: .* aio=sync' "two-$k.err"
    check "$k two: kxen exit status after poweroff -f" "$status" 0
    check_grep "$k two: the guest ran to its end" '^KXEN-DONE mode=two$' "$out"
    check "$k two: /sys/block/xvda/size (512-byte sectors of 256 MiB)" "$(gv "$out" XVDA-SECTORS)" 524288
    check "$k two: /sys/block/xvdb/size (64 MiB)" "$(gv "$out" XVDB-SECTORS)" 131072
    check "$k two: xvda is writable" "$(gv "$out" XVDA-RO)" 0
    check "$k two: xvda has 2 queues (queues=2, --vcpus 2)" "$(gv "$out" XVDA-QUEUES)" 2
    for key in MKFS-A MKFS-B MOUNT-A MOUNT-B COPY SYNC UMOUNT; do
        check "$k two: guest $key status" "$(gv "$out" "$key")" 0
    done
    big=$(gv "$out" BIG-SHA)
    mid=$(gv "$out" MID-SHA)
    check "$k two: the guest generated its data" "$(printf '%s%s' "$big" "$mid" | wc -c)" 128
    check "$k two: the guest reads big.bin back from xvda after a remount" "$(gv "$out" REREAD-BIG-SHA)" "$big"
    check "$k two: the guest reads mid.bin back from xvdb after a remount" "$(gv "$out" REREAD-MID-SHA)" "$mid"
    check "$k two: the guest reads the 200 small files back" "$(gv "$out" REREAD-MANY)" 200
    fsck_clean "$k two: a.img" "$a"
    fsck_clean "$k two: b.img" "$b"
    check "$k two: big.bin in a.img (debugfs dump)" "$(file_sha "$a" /big.bin)" "$big"
    check "$k two: small.txt in a.img" "$(file_text "$a" /small.txt)" "hello from xvda"
    check "$k two: many/f200 in a.img" "$(file_text "$a" /many/f200)" "file 200"
    check "$k two: mid.bin in b.img (debugfs dump)" "$(file_sha "$b" /mid.bin)" "$mid"
    check "$k two: small.txt in b.img" "$(file_text "$b" /small.txt)" "hello from xvdb"
    check "$k two: a.img keeps its size" "$(stat -c %s "$a")" $((256 * MiB))
    check "$k two: b.img keeps its size" "$(stat -c %s "$b")" $((64 * MiB))
    rm -f "$a" "$b"

    # A readonly disk holding a prepared ext4 file system.
    ro="$images/ro-$k.img"
    mkdir -p "$images/ro-src" && echo "read-only content" >"$images/ro-src/hello.txt"
    mke2fs -q -F -t ext4 -d "$images/ro-src" "$ro" 32M >/dev/null || fail "mke2fs -d failed"
    before=$(sha256sum "$ro" | cut -d' ' -f1)
    boot ro --disk "$ro,readonly"
    out="ro-$k.txt"
    check "$k ro: kxen exit status after poweroff -f" "$status" 0
    check_grep "$k ro: the guest ran to its end" '^KXEN-DONE mode=ro$' "$out"
    check "$k ro: blkfront sees a read-only disk (/sys/block/xvda/ro)" "$(gv "$out" RO-FLAG)" 1
    check "$k ro: mount -o ro works" "$(gv "$out" RO-MOUNT)" 0
    check "$k ro: the file reads back" "$(gv "$out" RO-HELLO)" "read-only content"
    check_that "$k ro: touch on the ro mount fails" [ "$(gv "$out" RO-TOUCH)" != 0 ]
    for how in DIRECT BUFFERED; do
        check_that "$k ro: dd ($how) to /dev/xvda fails" [ "$(gv "$out" "RO-DD-$how")" != 0 ]
        error=$(gv "$out" "RO-DD-$how-ERROR")
        echo "$k ro: dd ($how) said: $error"
        check_that "$k ro: dd ($how) failed with a read-only or I/O error" \
            sh -c "echo '$error' | grep -Eq 'Read-only file system|Operation not permitted|Permission denied|Input/output error'"
    done
    check "$k ro: the image is unchanged" "$(sha256sum "$ro" | cut -d' ' -f1)" "$before"
    fsck_clean "$k ro: ro.img" "$ro"
    rm -f "$ro"

    # fstrim: xvda discard=on, xvdb discard=off; a big file written, then deleted and trimmed.
    truncate -s 256M "$a" && truncate -s 64M "$b" || fail "truncate failed"
    boot fill --disk "$a,discard=on" --disk "$b,vdev=xvdb,discard=off"
    out="fill-$k.txt"
    check "$k fill: kxen exit status after poweroff -f" "$status" 0
    check_that "$k fill: xvda offers discard (discard_max_bytes > 0)" [ "$(gv "$out" A-DISCARD-MAX)" -gt 0 ]
    check "$k fill: xvdb offers no discard (discard=off)" "$(gv "$out" B-DISCARD-MAX)" 0
    for key in MKFS-A MKFS-B MOUNT FILL-A FILL-B; do
        check "$k fill: guest $key status" "$(gv "$out" "$key")" 0
    done
    a_full=$(allocated "$a")
    b_full=$(allocated "$b")
    echo "$k fill: allocated 512-byte blocks: a.img $a_full, b.img $b_full"
    check_that "$k fill: a.img holds the 64 MiB file" [ "$a_full" -ge $((64 * 2048)) ]
    boot trim --disk "$a,discard=on" --disk "$b,vdev=xvdb,discard=off"
    out="trim-$k.txt"
    check "$k trim: kxen exit status after poweroff -f" "$status" 0
    check "$k trim: guest mount status" "$(gv "$out" MOUNT)" 0
    echo "$k trim: fstrim on xvda said: $(gv "$out" TRIM-A-SAYS)"
    echo "$k trim: fstrim on xvdb said: $(gv "$out" TRIM-B-SAYS)"
    check "$k trim: fstrim on the discard=on disk" "$(gv "$out" TRIM-A)" 0
    check_that "$k trim: fstrim on the discard=off disk fails" [ "$(gv "$out" TRIM-B)" != 0 ]
    a_trimmed=$(allocated "$a")
    b_trimmed=$(allocated "$b")
    echo "$k trim: allocated 512-byte blocks: a.img $a_full -> $a_trimmed, b.img $b_full -> $b_trimmed"
    check_that "$k trim: a.img freed at least 48 of the file's 64 MiB" [ $((a_full - a_trimmed)) -ge $((48 * 2048)) ]
    check_that "$k trim: b.img freed nothing (discard=off)" [ "$b_trimmed" -ge "$b_full" ]
    fsck_clean "$k trim: a.img" "$a"
    fsck_clean "$k trim: b.img" "$b"
    rm -f "$a" "$b"
done
blk_finish
