# Shared by the blk cases (sourced, not a case: no shebang, not executable).
# Debian's kernels with a disk initramfs (cases/linux/disk_guest.py: busybox, xen-blkfront, ext4
# and e2fsprogs), disk images in RAM, kxen runs, and checks that go on after a failure so one
# run reports every failed check.

# e2fsprogs (e2fsck, debugfs, mke2fs) live in sbin.
PATH="$PATH:/usr/sbin:/sbin"
disk_guest="$KXEN_SRC/tests/integration/cases/linux/disk_guest.py"
# loglevel=3: kernel errors (an I/O error) stay in dmesg, off the console lines the host parses;
# a panic or oops is still printed.
BLK_CMDLINE="console=hvc0 loglevel=3"

# blk_kernels: Debian's 6.1 and 6.12 bzImages (tests/fetch-kernels), one a line.
blk_kernels() {
    python3 "$disk_guest" kernels || fail "no kernels (run tests/fetch-kernels)"
}

# series KERNEL: 6.1 or 6.12.
series() {
    basename "$1" | sed -n 's/^vmlinuz-\(6\.[0-9]*\).*/\1/p'
}

# blk_initrd KERNEL OUT: the disk initramfs whose /init body comes from stdin.
blk_initrd() {
    python3 "$disk_guest" initramfs "$1" - "$2" || fail "building the initramfs for $1 failed"
}

# blk_image_dir: $images, an empty dir in /tmp, removed when the case ends. In the lab's L1 /tmp
# is RAM (tmpfs: sparse files, hole punching, O_DIRECT); the case's own dir is a 9p share.
blk_image_dir() {
    images=$(mktemp -d /tmp/kxen-blk.XXXXXX) || fail "mktemp failed"
    trap 'rm -rf "$images"' EXIT
    trap 'exit 143' TERM INT
}

# blk_start NAME KXEN-RUN-ARGS...: starts kxen in the background ($kxen_pid); the console goes to
# $console, kxen's -v log to $log: files in $images when there is one (L1's tmpfs: the case's own
# dir is a 9p share there, where a file read right after a kill can show zeros in place of
# bytes still being written back), copied to NAME.out and NAME.err by blk_wait. (Not under
# timeout(1): it would leave the case's process group, which the suite kills when the case
# times out.)
blk_start() {
    name=$1
    shift
    start=$(date +%s)
    console="${images:-.}/$name.out"
    log="${images:-.}/$name.err"
    "$KXEN" run -v --memory 512M "$@" >"$console" 2>"$log" </dev/null &
    kxen_pid=$!
}

# blk_wait SECONDS: waits for kxen to end; after SECONDS it gets SIGUSR1 (it logs where each vCPU
# is), then SIGKILL. Sets $status, writes $text and NAME.txt (the console without CRs).
blk_wait() {
    _wait_ticks=0
    while kill -0 "$kxen_pid" 2>/dev/null && [ "$_wait_ticks" -lt $(($1 * 5)) ]; do
        sleep 0.2
        _wait_ticks=$((_wait_ticks + 1))
    done
    if kill -0 "$kxen_pid" 2>/dev/null; then
        echo "$name: still running after $1 s: SIGUSR1, then SIGKILL"
        kill -USR1 "$kxen_pid"
        sleep 2
        kill -KILL "$kxen_pid" 2>/dev/null
    fi
    wait "$kxen_pid"
    status=$?
    if [ "$console" != "./$name.out" ]; then
        cp "$console" "$name.out"
        cp "$log" "$name.err"
    fi
    text="${images:-.}/$name.txt"
    tr -d '\r' <"$console" >"$text"
    [ "$text" = "./$name.txt" ] || cp "$text" "$name.txt"
    echo "$name: exit $status after $(($(date +%s) - start)) s"
}

# show_tails: the end of the last run's console and log (after a failed check).
show_tails() {
    echo "--- $name.txt (tail):"
    tail -n 30 "$name.txt"
    echo "--- $name.err (tail):"
    tail -n 20 "$name.err"
}

# blk_run NAME SECONDS KXEN-RUN-ARGS...: one kxen run to its end (blk_start + blk_wait); the tails
# are shown when it did not exit 0.
blk_run() {
    _run_name=$1
    _run_limit=$2
    shift 2
    blk_start "$_run_name" "$@"
    blk_wait "$_run_limit"
    [ "$status" -eq 0 ] || show_tails
}

# gv FILE KEY: the value of the first console line KEY=VALUE (empty if none).
gv() {
    sed -n "s/^$2=//p" "$1" | head -n 1
}

failures=0
failed_checks=""

# record LINE: one failed check, printed now and again by blk_finish (the suite shows the tail).
record() {
    echo "FAIL: $1" >&2
    failures=$((failures + 1))
    failed_checks="$failed_checks
FAIL: $1"
}

# check WHAT GOT WANT: records a mismatch and goes on.
check() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1 ($2)"
    else
        record "$1: got '$2', expected '$3'"
    fi
}

# check_that WHAT CMD...: records a failure when CMD exits non-zero.
check_that() {
    _check_what=$1
    shift
    if "$@"; then
        echo "ok: $_check_what"
    else
        record "$_check_what (exit $?)"
    fi
}

# check_grep WHAT REGEX FILE: FILE has a line matching the extended REGEX.
check_grep() {
    if grep -Eq -- "$2" "$3"; then
        echo "ok: $1"
    else
        record "$1: no line matching '$2' in $3"
    fi
}

# blk_finish: the case's verdict.
blk_finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed:$failed_checks" >&2
        exit 1
    fi
    exit 0
}

# fsck_clean WHAT IMAGE: e2fsck -fn finds nothing to fix (its report is shown when it does).
fsck_clean() {
    e2fsck -fn "$2" >"$2.fsck" 2>&1
    _fsck_status=$?
    [ "$_fsck_status" -eq 0 ] || cat "$2.fsck"
    check "$1: e2fsck -fn exit status" "$_fsck_status" 0
}

# file_sha IMAGE PATH: SHA-256 of PATH inside the ext2/3/4 IMAGE, read by debugfs (no mount, no
# loop device); empty when debugfs cannot dump it.
file_sha() {
    rm -f "$1.dump"
    debugfs -R "dump $2 $1.dump" "$1" >/dev/null 2>&1
    [ -f "$1.dump" ] && sha256sum "$1.dump" | cut -d' ' -f1
    rm -f "$1.dump"
}

# file_text IMAGE PATH: the contents of PATH inside IMAGE (debugfs cat).
file_text() {
    debugfs -R "cat $2" "$1" 2>/dev/null
}

# allocated IMAGE: the 512-byte blocks the file has allocated on the host (stat %b).
allocated() {
    stat -c %b "$1"
}

# raw_sha IMAGE OFFSET LENGTH: SHA-256 of LENGTH bytes at byte OFFSET of IMAGE.
raw_sha() {
    dd if="$1" bs=4096 skip=$(($2 / 4096)) count=$(($3 / 4096)) 2>/dev/null | sha256sum | cut -d' ' -f1
}
