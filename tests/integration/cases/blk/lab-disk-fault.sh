#!/bin/sh
# kxen run --disk PATH,fail-sectors=START-END on Debian's 6.1 and 6.12: a guest read of any of
# those sectors fails with an I/O error (dd says so, dmesg logs it with the sector), sectors
# around them still read the image's bytes, kxen stays up and the guest powers off cleanly.
# The range is taken as inclusive: sectors 2048 and 2055 fail, 2047 and 2056 read. The guest's
# reads are O_DIRECT of exact sectors (busybox dd with bs=4096 gets a page-aligned buffer;
# with a smaller bs its O_DIRECT read fails EINVAL and it falls back to the page cache).
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/blk-common.sh"
need_kxen
blk_image_dir

FIRST=2048
LAST=2055

img="$images/fault.img"
head -c 16777216 /dev/urandom >"$img" || fail "cannot write $img"
# Zeros where the guest's partition scan looks (start and end): random bytes there could look
# like a partition table to one of the kernel's many parsers.
dd if=/dev/zero of="$img" bs=65536 count=1 conv=notrunc 2>/dev/null &&
    dd if=/dev/zero of="$img" bs=65536 seek=255 count=1 conv=notrunc 2>/dev/null || fail "cannot zero $img's ends"
before=$(sha256sum "$img" | cut -d' ' -f1)

# sector_sha N: SHA-256 of the image's 512-byte sector N, as the guest should read it.
sector_sha() {
    dd if="$img" bs=512 skip="$1" count=1 2>/dev/null | sha256sum | cut -d' ' -f1
}

for kernel in $(blk_kernels); do
    k=$(series "$kernel")
    blk_initrd "$kernel" "fault-$k.gz" <<'INIT'
wait_block xvda || poweroff -f
# rd NAME SECTOR COUNT: one O_DIRECT read of COUNT sectors at SECTOR; its status, data, complaint.
rd() {
    rm -f /tmp/data
    dd if=/dev/xvda of=/tmp/data bs=4096 iflag=direct,skip_bytes,count_bytes skip=$(($2 * 512)) \
        count=$(($3 * 512)) 2>/tmp/err
    echo "READ-$1=$?"
    echo "READ-$1-SHA=$(sha /tmp/data)"
    echo "READ-$1-ERROR=$(grep dd: /tmp/err | tail -n 1)"
}
first=$(arg first)
last=$(arg last)
rd before $((first - 1)) 1
rd first "$first" 1
rd last "$last" 1
rd after $((last + 1)) 1
rd block "$first" $((last - first + 1))
rd span $((first - 128)) 256
rd later 8000 8
# A buffered read of the whole disk runs into them too.
dd if=/dev/xvda of=/dev/null bs=1M 2>/dev/null
echo "READ-ALL=$?"
rd again $((first - 1)) 1
dmesg | grep -E 'I/O error|blk_update_request|Buffer I/O' | head -n 5 | sed 's/^/dmesg: /'
echo "KXEN-DONE"
poweroff -f
INIT
    blk_run "fault-$k" 300 --kernel "$kernel" --initrd "fault-$k.gz" \
        --cmdline "$BLK_CMDLINE kxen.first=$FIRST kxen.last=$LAST" --disk "$img,fail-sectors=$FIRST-$LAST"
    out="fault-$k.txt"
    check "$k: kxen exit status after the guest's poweroff -f" "$status" 0
    check_grep "$k: the guest ran to its end" '^KXEN-DONE$' "$out"
    for part in first last block span; do
        check_that "$k: dd of the failing sectors ($part) fails" [ "$(gv "$out" "READ-$part")" != 0 ]
        check_grep "$k: dd ($part) reports an I/O error" "^READ-$part-ERROR=.*Input/output error" "$out"
    done
    check "$k: sector $((FIRST - 1)) reads" "$(gv "$out" READ-before)" 0
    check "$k: sector $((FIRST - 1)) has the image's bytes" "$(gv "$out" READ-before-SHA)" "$(sector_sha $((FIRST - 1)))"
    check "$k: sector $((LAST + 1)) reads" "$(gv "$out" READ-after)" 0
    check "$k: sector $((LAST + 1)) has the image's bytes" "$(gv "$out" READ-after-SHA)" "$(sector_sha $((LAST + 1)))"
    check "$k: 4 KiB at sector 8000 read" "$(gv "$out" READ-later)" 0
    check "$k: 4 KiB at sector 8000 have the image's bytes" "$(gv "$out" READ-later-SHA)" \
        "$(dd if="$img" bs=512 skip=8000 count=8 2>/dev/null | sha256sum | cut -d' ' -f1)"
    check_that "$k: a buffered read of the whole disk fails" [ "$(gv "$out" READ-ALL)" != 0 ]
    check "$k: sector $((FIRST - 1)) still reads after the errors" "$(gv "$out" READ-again)" 0
    check "$k: ... with the image's bytes" "$(gv "$out" READ-again-SHA)" "$(sector_sha $((FIRST - 1)))"
    check_grep "$k: dmesg logs the I/O error at sector $FIRST" \
        "^dmesg: .*I/O error, dev xvda, sector $FIRST" "$out"
    check "$k: the image is unchanged" "$(sha256sum "$img" | cut -d' ' -f1)" "$before"
    [ "$failures" -eq 0 ] || show_tails
done
blk_finish
