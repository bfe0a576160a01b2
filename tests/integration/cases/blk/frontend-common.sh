# Shared by the blk-frontend cases (sourced, not a case: no shebang, not executable): runs the
# hostile blkfront guest (tests/guests/blk-frontend) on a small image and checks its summary,
# kxen's exit status, that kxen disabled the wild ring, and that it never crashed.

# fe_image_dir: $images, an empty dir in /tmp (tmpfs in the lab's L1: hole punching for discard),
# removed when the case ends; $img, an 8 MiB image of zeros in it.
fe_image_dir() {
    images=$(mktemp -d /tmp/kxen-blkfe.XXXXXX) || fail "mktemp failed"
    trap 'rm -rf "$images"' EXIT
    trap 'exit 143' TERM INT
    img=$images/disk.img
    truncate -s 8M "$img" || fail "cannot create $img"
}

# fe_run NAME BITS KXEN-RUN-ARGS...: one run of blk-frontend-BITS to its end; NAME.out holds the
# console, NAME.err kxen's log. Every check passed (the count matches the "ok" lines), the guest
# powered off (exit 0), and kxen logged the wild ring as disabled.
fe_run() {
    name=$1
    bits=$2
    shift 2
    start=$(date +%s)
    "$KXEN" run --memory 64M --kernel "$KXEN_BUILD/tests/guests/blk-frontend-$bits" "$@" \
        >"$name.out" 2>"$name.err" </dev/null
    status=$?
    echo "$name: exit $status after $(($(date +%s) - start)) s"
    grep -E '^blk-frontend: (start|feature-discard|FATAL|[0-9]+ of)|: FAIL$' "$name.out"
    fe_no_crash "$name" "$status"
    expect_eq "$name exit status (0: the guest powered off)" "$status" 0
    expect_grep "^blk-frontend: [0-9]+ of [0-9]+ checks passed \($bits-bit\)$" "$name.out"
    passed=$(sed -n 's/^blk-frontend: \([0-9]*\) of \([0-9]*\) checks passed.*/\1 \2/p' "$name.out")
    set -- $passed
    expect_eq "$name checks passed of all" "$1" "$2"
    expect_eq "$name ok lines" "$(grep -c '^blk-frontend: .*: ok$' "$name.out")" "$1"
    if grep -q ': FAIL$' "$name.out"; then fail "$name printed a FAIL line"; fi
    expect_grep 'ring disabled: ring: bad req_prod' "$name.err"
    expect_grep '^blk-frontend: wild req_prod \(\+65536\): no response within 500 ms: ok$' "$name.out"
    expect_grep '^blk-frontend: 4-page ring: each read answered once, OKAY: got 112, want 112: ok$' "$name.out"
}

# fe_no_crash NAME STATUS: kxen ended by itself (no signal, no abort, no sanitizer report).
fe_no_crash() {
    if [ "$2" -ge 128 ]; then
        tail -n 20 "$1.err"
        fail "$1: kxen died of signal $(($2 - 128))"
    fi
    if grep -Eq 'terminate called|Segmentation fault|AddressSanitizer|ThreadSanitizer|runtime error:|I/O thread failed' "$1.err"; then
        grep -E 'terminate called|Segmentation fault|Sanitizer|runtime error:|I/O thread failed' "$1.err" | head -n 5
        fail "$1: kxen crashed or a backend thread failed"
    fi
}

# fe_sector_tag N: the first 24 bytes of sector N of the image ("kxen-blk sector 0000000N").
fe_sector_tag() {
    dd if="$img" bs=512 skip="$1" count=1 2>/dev/null | head -c 24
}

# fe_check_image DISCARDED: what the writable runs left in the image, read on the host: the
# pattern where the guest wrote it, the size unchanged (refused writes past the end wrote
# nothing), and zeros where it discarded (DISCARDED=1).
fe_check_image() {
    expect_eq "image size" "$(stat -c %s "$img")" 8388608
    for sector in 0 87 88 91 128 447 512 600 16383; do
        expect_eq "sector $sector" "$(fe_sector_tag $sector)" "$(printf 'kxen-blk sector %08u' $sector)"
    done
    expect_eq "sector 92 (after the partial write)" "$(dd if="$img" bs=512 skip=92 count=1 2>/dev/null | tr -d '\000' | wc -c)" 0
    if [ "$1" = 1 ]; then
        expect_eq "discarded sectors 1024-1031 hold zeros" \
            "$(dd if="$img" bs=512 skip=1024 count=8 2>/dev/null | tr -d '\000' | wc -c)" 0
    fi
}

# fe_matrix TRANSPORT: both flavours on one image: 64-bit writable (discard as the host offers
# it), 32-bit writable with discard=off, then both read-only on what they wrote. $fe_cmdline
# holds extra command-line words (hcall=direct), $fe_transport_re what the guest must name.
fe_matrix() {
    fe_image_dir
    fe_run w64 64 --transport "$1" --cmdline "$fe_cmdline" --disk "$img"
    discard=$(sed -n 's/^blk-frontend: feature-discard \([01]\)$/\1/p' w64.out)
    echo "w64: the backend offered feature-discard=$discard on $(stat -f -c %T "$images")"
    fe_run w32 32 --transport "$1" --cmdline "$fe_cmdline" --disk "$img,discard=off"
    expect_grep '^blk-frontend: feature-discard 0$' w32.out
    expect_grep '^blk-frontend: discard without feature-discard: got status -2 op 5, want status -2 op 5: ok$' w32.out
    fe_check_image "$discard"
    for bits in 64 32; do
        fe_run ro$bits $bits --transport "$1" --cmdline "$fe_cmdline readonly prewritten" --disk "$img,readonly"
        expect_grep '^blk-frontend: read-only disk: sectors 128-447 as the writable run left them: ok$' ro$bits.out
    done
    fe_check_image "$discard"
    for run in w64 w32 ro64 ro32; do
        expect_grep "^blk-frontend: start \([0-9]+-bit, transport $fe_transport_re, " $run.out
    done
}
