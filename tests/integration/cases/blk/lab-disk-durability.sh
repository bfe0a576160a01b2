#!/bin/sh
# What a guest has fsync'ed is in the image even when kxen is SIGKILLed right after: 20 runs
# (6.1 and 6.12 in turn), each writes 256 KiB of fresh random data to a file on an ext4 disk
# (dd conv=fsync; aio=sync) and raw to a second disk (oflag=direct
# conv=fsync, cache=none, io_uring) at its own offset, prints a marker, and kxen is killed the moment the marker shows. After each kill: the
# raw bytes at that offset, and (journal replayed by e2fsck on a copy) the file, match the
# SHA-256 the guest printed; at the end every run's data is still there.
# (A SIGKILL loses no page cache of the host, so this checks that kxen completes a write or a
# flush only once it is in the image file, not power-loss safety of the host's disk.)
# needs: kvm-xen
# timeout: 2400
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/blk/blk-common.sh"
need_kxen
blk_image_dir

RUNS=${KXEN_DURABILITY_RUNS:-20}

# fs_checks RUN SERIES WANT COPY: the journal of a killed run's file system copy replays, the
# copy is then clean, and the run's file has the SHA-256 the guest printed; the copy goes.
fs_checks() {
    e2fsck -fy "$4" >"$4.log" 2>&1
    _replay=$?
    [ "$_replay" -le 1 ] || cat "$4.log"
    check_that "run $1 ($2): e2fsck -fy replays the journal (exit 0 or 1)" [ "$_replay" -le 1 ]
    fsck_clean "run $1 ($2): the replayed copy" "$4"
    check "run $1 ($2): run$1.bin in the file system" "$(file_sha "$4" "/run$1.bin")" "$3"
    rm -f "$4" "$4.log" "$4.fsck"
}

# off_guest_cpu: moves the calling subshell to L1 CPU 0 when the case is pinned elsewhere (the
# lab pins cases to CPU 1 with their guests), so host-side checks overlap the next boot.
off_guest_cpu() {
    _self=$(sh -c 'echo $PPID')
    if [ -n "${KXEN_IN_LAB:-}" ] && command -v taskset >/dev/null; then
        taskset -pc 0 "$_self" >/dev/null 2>&1 || true
    fi
}
CHUNK=262144  # bytes per run, at offset run * CHUNK of the raw disk

fs="$images/fs.img"
raw="$images/raw.img"
mkdir -p "$images/empty"
mke2fs -q -F -t ext4 -d "$images/empty" "$fs" 32M >/dev/null || fail "mke2fs failed"
truncate -s 16M "$raw" || fail "truncate failed"

set -- $(blk_kernels)
[ $# -eq 2 ] || fail "want the 6.1 and 6.12 kernels, got: $*"
for kernel in "$@"; do
    # The ext4 disk is mounted (which replays the journal the last killed run left) before the
    # writes; the host's kill is the only way this guest ends.
    python3 "$disk_guest" initramfs "$kernel" - "durable-$(series "$kernel").gz" --no-tools <<'INIT'
run=$(arg run)
wait_block xvda && wait_block xvdb || poweroff -f
mount -t ext4 /dev/xvda /mnt || { echo "KXEN-MOUNT-FAILED"; poweroff -f; }
head -c 262144 /dev/urandom >/tmp/data
echo "DATA-SHA=$(sha /tmp/data)"
dd if=/tmp/data of=/mnt/run$run.bin bs=65536 conv=fsync 2>/dev/null
echo "FILE-DD=$?"
dd if=/tmp/data of=/dev/xvdb bs=65536 seek=$((run * 4)) oflag=direct conv=fsync 2>/dev/null
echo "RAW-DD=$?"
echo "KXEN-DURABLE-MARKER run=$run"
while :; do sleep 1; done
INIT
done

run=1
while [ "$run" -le "$RUNS" ]; do
    if [ $((run % 2)) -eq 1 ]; then kernel=$1; else kernel=$2; fi
    k=$(series "$kernel")
    blk_start "run$run-$k" --kernel "$kernel" --initrd "durable-$k.gz" \
        --cmdline "$BLK_CMDLINE kxen.run=$run" --disk "$fs,aio=sync" --disk "$raw,vdev=xvdb,cache=none"
    # Poll the console; SIGKILL at once when the marker (or the end) shows, or after 240 s.
    n=0
    while ! grep -q "^KXEN-DURABLE-MARKER run=$run" "$console" && kill -0 "$kxen_pid" 2>/dev/null &&
        [ "$n" -lt 4800 ]; do
        sleep 0.05
        n=$((n + 1))
    done
    kill -KILL "$kxen_pid" 2>/dev/null
    blk_wait 10
    out="$text"
    if ! grep -q "^KXEN-DURABLE-MARKER run=$run" "$out"; then
        show_tails
        check "run $run ($k): the guest printed its marker" no yes
        run=$((run + 1))
        continue
    fi
    check "run $run ($k): kxen ended by SIGKILL" "$status" 137
    check "run $run ($k): guest dd to the file" "$(gv "$out" FILE-DD)" 0
    check "run $run ($k): guest dd to the raw disk" "$(gv "$out" RAW-DD)" 0
    want=$(gv "$out" DATA-SHA)
    if [ "$(printf '%s' "$want" | tr -d '0-9a-f' | wc -c) $(printf '%s' "$want" | wc -c)" != "0 64" ]; then
        record "run $run ($k): the guest's DATA-SHA line reached the console garbled: '$want'"
        run=$((run + 1))
        continue
    fi
    echo "$want" >"$images/sha-$run"
    check "run $run ($k): raw bytes at $((run * CHUNK))" "$(raw_sha "$raw" $((run * CHUNK)) "$CHUNK")" "$want"
    # The guest's fsync committed the file through the journal: replay it on a copy, checked
    # while the next run boots.
    cp --sparse=always "$fs" "$images/check-$run.img"
    (
        off_guest_cpu
        failures=0
        fs_checks "$run" "$k" "$want" "$images/check-$run.img"
        exit "$failures"
    ) >"$images/fscheck-$run.log" 2>&1 &
    run=$((run + 1))
done
wait
run=1
while [ "$run" -le "$RUNS" ]; do
    if [ -f "$images/fscheck-$run.log" ]; then
        cat "$images/fscheck-$run.log"
        sed -n 's/^FAIL: //p' "$images/fscheck-$run.log" >"$images/fscheck-$run.fails"
        while IFS= read -r line; do record "$line"; done <"$images/fscheck-$run.fails"
    fi
    run=$((run + 1))
done

# Every run's data, after all the kills.
e2fsck -fy "$fs" >"$images/final.log" 2>&1
[ $? -le 1 ] || { cat "$images/final.log"; check "final e2fsck -fy" failed ok; }
fsck_clean "final: fs.img" "$fs"
run=1
lost=0
while [ "$run" -le "$RUNS" ]; do
    if [ -f "$images/sha-$run" ]; then
        want=$(cat "$images/sha-$run")
        [ "$(file_sha "$fs" "/run$run.bin")" = "$want" ] || { record "final: run$run.bin differs"; lost=$((lost + 1)); }
        [ "$(raw_sha "$raw" $((run * CHUNK)) "$CHUNK")" = "$want" ] || { record "final: the raw bytes of run $run differ"; lost=$((lost + 1)); }
    fi
    run=$((run + 1))
done
check "final: runs whose file or raw bytes changed later" "$lost" 0
blk_finish
