#!/bin/sh
# tests/lab/run itself: exit statuses travel, output streams apart, shares and the
# scratch dir work, --timeout and SIGTERM stop L1 and clean up, a dying QEMU or L1 is
# a lab failure.
# The L1 boots run side by side (1 vCPU each) to keep the case near one boot's time.
# timeout: 300
. "$KXEN_SRC/tests/integration/lib.sh"
run="$KXEN_SRC/tests/lab/run"
small="--vcpus 1 --memory 1G"

# Each in the background: its status into NAME.rc, stdout/stderr into NAME.out/.err.
lab() {
    name=$1
    shift
    ("$run" $small "$@" >"$name.out" 2>"$name.err"; echo $? >"$name.rc") &
}

lab false -- false
lab seven --env KXEN_T=from-host -- sh -c \
    'echo out-line; echo err-line >&2; printf %s "$KXEN_T" >written; pwd
     touch "$KXEN_LAB_SCRATCH/x" || exit 9; printf "[%s]" "$@"; echo; exit 7' \
    sh 'a b' "it's" '$HOME' ''
lab timeout --timeout 5 -- sleep 1000
mkdir tmpd
(TMPDIR="$PWD/tmpd" exec "$run" $small -- sh -c 'echo "$KXEN_LAB_SCRATCH"; exec sleep 1000' \
    >term.out 2>term.err) &
term_pid=$!
lab broken --vcpus 1000 -- true   # QEMU refuses: must not look like a test result
lab crash -- sh -c 'echo c >/proc/sysrq-trigger; sleep 1000'   # L1 panics

# SIGTERM once the command runs: the runner must stop QEMU and remove its temp dirs.
i=0
until [ -s term.out ]; do
    i=$((i + 1))
    [ $i -le 2400 ] || fail "the command for the SIGTERM check never started"
    sleep 0.1
done
kill -TERM $term_pid
wait $term_pid
expect_eq "status after SIGTERM" "$?" 143
wait

expect_eq "false" "$(cat false.rc)" 1
expect_eq "sh -c 'exit 7'" "$(cat seven.rc)" 7
expect_eq "stdout" "$(cat seven.out)" "out-line
$PWD
[a b][it's][\$HOME][]"
expect_grep '^err-line$' seven.err
expect_grep '^lab: L1 up in [0-9]+\.[0-9] s$' seven.err
expect_eq "file written in L1 with --env value" "$(cat written)" "from-host"
expect_eq "timeout status" "$(cat timeout.rc)" 124
expect_grep '^lab: timeout after 5 s$' timeout.err
expect_eq "broken QEMU status" "$(cat broken.rc)" 125
expect_grep '^lab: L1 failed: ' broken.err
expect_eq "L1 panic status" "$(cat crash.rc)" 125
expect_grep '^lab: L1 failed: .*Kernel panic' crash.err
[ -z "$(ls -A tmpd)" ] || fail "SIGTERM left temp files: $(ls -A tmpd)"
scratch=$(cat term.out)
case "$scratch" in /var/tmp/kxen-lab-scratch-*) ;; *) fail "no scratch dir in L1: '$scratch'" ;; esac
[ ! -e "$scratch" ] || fail "SIGTERM left the scratch dir $scratch"
for cmdline in /proc/[0-9]*/cmdline; do
    tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -q "^qemu-system.*$PWD/tmpd" &&
        fail "SIGTERM left QEMU running: $cmdline"
done
exit 0
