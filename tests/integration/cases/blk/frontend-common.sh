# Shared by the hostile frontend cases (sourced, not a case: no shebang, not executable): runs the
# hostile blkfront guest (tests/guests/blk-frontend) on a small image and checks its summary,
# kxen's exit status, that kxen disabled the wild ring, and that it never crashed; the net cases
# (net/hostile-frontend.sh, net/lab-hostile-frontend.sh) use fe_summary and fe_no_crash.

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
    fe_summary "$name" blk-frontend "$bits" "$status"
    expect_grep 'ring disabled: ring: bad req_prod' "$name.err"
    expect_grep '^blk-frontend: wild req_prod \(\+65536\): no response within 500 ms: ok$' "$name.out"
    expect_grep '^blk-frontend: 4-page ring: each read answered once, OKAY: got 112, want 112: ok$' "$name.out"
}

# fe_summary NAME GUEST BITS STATUS: kxen never crashed, exited STATUS 0 (the guest powered off),
# and NAME.out ends with "GUEST: N of N checks passed (BITS-bit)", N matching its "ok" lines.
fe_summary() {
    fe_no_crash "$1" "$4"
    expect_eq "$1 exit status (0: the guest powered off)" "$4" 0
    expect_grep "^$2: [0-9]+ of [0-9]+ checks passed \($3-bit\)$" "$1.out"
    set -- "$1" "$2" $(sed -n "s/^$2: \([0-9]*\) of \([0-9]*\) checks passed.*/\1 \2/p" "$1.out")
    expect_eq "$1 checks passed of all" "$3" "$4"
    expect_eq "$1 ok lines" "$(grep -c "^$2: .*: ok\$" "$1.out")" "$3"
    if grep -q ': FAIL$' "$1.out"; then fail "$1 printed a FAIL line"; fi
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

# fe_net_run NAME BITS TRANSPORT TRANSPORT-RE [CMDLINE]: one run of net-frontend-BITS on two
# --net user NICs (tests/guests/net-frontend: vif 0 hostile, vif 1 well-behaved); NAME.out holds
# the console, NAME.err kxen's log. Every check passed, kxen logged both rings it disabled, and
# vif 1 got its ARP reply after the last attack; -v's closing statistics count the replies
# dropped for vif 0 (no rx buffers) and none for vif 1. The guest names TRANSPORT-RE as its transport.
fe_net_run() {
    name=$1
    start=$(date +%s)
    "$KXEN" run -v --memory 64M --transport "$3" --cmdline "${5:-}" --kernel "$KXEN_BUILD/tests/guests/net-frontend-$2" \
        --net user --net user >"$name.out" 2>"$name.err" </dev/null
    status=$?
    echo "$name: exit $status after $(($(date +%s) - start)) s"
    grep -E '^net-frontend: (start|FATAL|[0-9]+ of)|: FAIL$' "$name.out"
    fe_summary "$name" net-frontend "$2" "$status"
    expect_grep "^net-frontend: start \\($2-bit, transport $4\\)$" "$name.out"
    expect_grep 'vif 0 .*: queue disabled: tx: extra-info slot of type 9$' "$name.err"
    expect_grep 'vif 0 .*: queue disabled: tx ring: bad req_prod' "$name.err"
    if grep -q 'vif 1 .*: queue disabled' "$name.err"; then fail "$name: kxen disabled the well-behaved vif 1"; fi
    expect_grep '^net-frontend: vif 0: a wild req_prod \(\+65536\): no response within 500 ms: ok$' "$name.out"
    expect_grep 'net vif 0 \(user\): tx [0-9]+ packets [0-9]+ bytes [0-9]+ dropped; rx 0 packets 0 bytes [1-9][0-9]* dropped$' "$name.err"
    expect_grep 'net vif 1 \(user\): tx [0-9]+ packets [0-9]+ bytes 0 dropped; rx [1-9][0-9]* packets [0-9]+ bytes 0 dropped$' "$name.err"
    expect_grep "^net-frontend: vif 1 after vif 0's wild req_prod: the ARP reply landed in a posted buffer \\(an ARP reply from 10\\.0\\.2\\.2\\): ok\$" "$name.out"
}
