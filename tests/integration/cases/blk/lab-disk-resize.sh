#!/bin/sh
# A disk resized on the host while the guest runs (Debian's 6.1 and 6.12): kxen notices within
# about a second, writes the new `sectors` and announces Connected again; blkfront sets the new
# capacity. Grown from 32 to 48 MiB, the guest writes and reads back the new last 4 KiB (O_DIRECT)
# and the host finds them in the image; shrunk to 24 MiB, the guest reads the new last 4 KiB.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/blk-common.sh"
need_kxen
blk_image_dir

MiB=1048576

# wait_console MARKER SECONDS: until the console shows a line MARKER (0), or kxen ends or the time
# runs out (1).
wait_console() {
    _ticks=0
    while ! grep -q "^$1" "$console" 2>/dev/null; do
        kill -0 "$kxen_pid" 2>/dev/null && [ "$_ticks" -lt $(($2 * 5)) ] || return 1
        sleep 0.2
        _ticks=$((_ticks + 1))
    done
}

for kernel in $(blk_kernels); do
    k=$(series "$kernel")
    blk_initrd "$kernel" "resize-$k.gz" <<'INIT'
wait_block xvda || poweroff -f
# changed_from SECTORS: /sys/block/xvda/size once it differs from SECTORS (waits up to 120 s).
changed_from() {
    i=0
    while [ "$(cat /sys/block/xvda/size)" = "$1" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
    cat /sys/block/xvda/size
}
before=$(cat /sys/block/xvda/size)
echo "SIZE-BEFORE=$before"
echo "KXEN-RESIZE-GROW"
grown=$(changed_from "$before")
echo "SIZE-GROWN=$grown"
head -c 4096 /dev/urandom >/tmp/tail
echo "TAIL-SHA=$(sha /tmp/tail)"
dd if=/tmp/tail of=/dev/xvda bs=4096 seek=$((grown / 8 - 1)) oflag=direct conv=fsync 2>/tmp/err
echo "TAIL-WRITE=$?"
dd if=/dev/xvda of=/tmp/back bs=4096 skip=$((grown / 8 - 1)) count=1 iflag=direct 2>>/tmp/err
echo "TAIL-READ=$?"
echo "TAIL-BACK-SHA=$(sha /tmp/back)"
echo "KXEN-RESIZE-SHRINK"
shrunk=$(changed_from "$grown")
echo "SIZE-SHRUNK=$shrunk"
dd if=/dev/xvda of=/tmp/last bs=4096 skip=$((shrunk / 8 - 1)) count=1 iflag=direct 2>>/tmp/err
echo "LAST-READ=$?"
echo "LAST-SHA=$(sha /tmp/last)"
grep dd: /tmp/err | sed 's/^/dd error: /'
dmesg | grep -iE 'blkfront|xvda|capacity|I/O error' | sed 's/^/dmesg: /'
echo "KXEN-DONE"
poweroff -f
INIT
    img="$images/resize-$k.img"
    truncate -s 32M "$img" || fail "truncate failed"
    # Known bytes where the shrunk disk ends: the guest's last 4 KiB after the shrink.
    head -c 4096 /dev/urandom | dd of="$img" bs=4096 seek=$((24 * 256 - 1)) conv=notrunc 2>/dev/null ||
        fail "cannot write $img"
    last_sha=$(dd if="$img" bs=4096 skip=$((24 * 256 - 1)) count=1 2>/dev/null | sha256sum | cut -d' ' -f1)

    blk_start "resize-$k" --kernel "$kernel" --initrd "resize-$k.gz" --cmdline "$BLK_CMDLINE" --disk "$img"
    if wait_console KXEN-RESIZE-GROW 240; then
        truncate -s 48M "$img" || record "$k: truncate -s 48M failed"
        if wait_console KXEN-RESIZE-SHRINK 240; then
            tail_on_host=$(dd if="$img" bs=4096 skip=$((48 * 256 - 1)) count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
            truncate -s 24M "$img" || record "$k: truncate -s 24M failed"
        fi
    fi
    blk_wait 300
    out="resize-$k.txt"
    check "$k: kxen exit status after the guest's poweroff -f" "$status" 0
    check_grep "$k: the guest ran to its end" '^KXEN-DONE$' "$out"
    check "$k: the guest saw 32 MiB at first" "$(gv "$out" SIZE-BEFORE)" $((32 * 2048))
    check "$k: the guest sees the disk grown to 48 MiB" "$(gv "$out" SIZE-GROWN)" $((48 * 2048))
    check "$k: the guest writes the new last 4 KiB" "$(gv "$out" TAIL-WRITE)" 0
    check "$k: ... reads them" "$(gv "$out" TAIL-READ)" 0
    tail_sha=$(gv "$out" TAIL-SHA)
    check "$k: ... back as written" "$(gv "$out" TAIL-BACK-SHA)" "$tail_sha"
    check "$k: ... and they are in the image on the host" "${tail_on_host:-none}" "$tail_sha"
    check "$k: the guest sees the disk shrunk to 24 MiB" "$(gv "$out" SIZE-SHRUNK)" $((24 * 2048))
    check "$k: the guest reads the shrunk disk's last 4 KiB" "$(gv "$out" LAST-READ)" 0
    check "$k: ... with the image's bytes" "$(gv "$out" LAST-SHA)" "$last_sha"
    check_grep "$k: kxen logged the resize" 'resized to 98304 sectors' "resize-$k.err"
    check "$k: the image keeps its last size" "$(stat -c %s "$img")" $((24 * MiB))
    [ "$failures" -eq 0 ] || show_tails
    rm -f "$img"
done
blk_finish
