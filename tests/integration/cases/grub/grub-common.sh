# Shared by the grub cases (sourced, not a case: no shebang, not executable).
# Builds a GRUB PVH image from Debian's grub-xen-bin, boots it on kxen with a scripted
# console user, and checks what GRUB printed.

# grub_image OUT: a GRUB i386-xen_pvh ELF whose embedded config prints the marker; with no
# grub.cfg under its prefix GRUB then falls to its command line (the "grub>" prompt).
grub_image() {
    command -v grub-mkimage >/dev/null || fail "no grub-mkimage (run tests/install-deps: grub-common, grub-xen-bin)"
    [ -d /usr/lib/grub/i386-xen_pvh ] || fail "no /usr/lib/grub/i386-xen_pvh (run tests/install-deps: grub-xen-bin)"
    printf 'echo KXEN-GRUB-MARKER\n' >early.cfg
    grub-mkimage -O i386-xen_pvh -o "$1" -p '(memdisk)/boot/grub' -c early.cfg \
        normal echo halt sleep || fail "grub-mkimage failed"
}

# wait_for PATTERN FILE SECONDS: until FILE (ANSI escapes and CRs removed) has a line
# matching the extended regex PATTERN; 1 on timeout or when kxen ($kxen_pid) ended first.
wait_for() {
    n=0
    while [ "$n" -lt "$3" ]; do
        plain "$2" | grep -Eq -- "$1" && return 0
        kill -0 "$kxen_pid" 2>/dev/null || { plain "$2" | grep -Eq -- "$1"; return; }
        sleep 1
        n=$((n + 1))
    done
    return 1
}

# timed_sleep NAME SECONDS: types one line, 'sleep 1' and 'sleep 3' between echoed markers, and
# times in host ms the marker outputs around each (marker_times.py). GRUB's clock is the
# pvclock: 'sleep 1' must wait at least 1 s, and 'sleep 3' take 2 s longer than 'sleep 1'.
# One line, because GRUB reads and parses all of it before running any: reading typed lines
# between the markers cost 0.2 to 1.2 s per line on this slow KVM and did not cancel out.
# Problems go to $sleep_error, checked once kxen has ended so a failure never leaves it running.
timed_sleep() {
    sleep_error="$1: GRUB did not print all of KXEN-SLEEP-A, B, C within $2 s ('sleep' hangs?)"
    times=$(python3 "$KXEN_SRC/tests/integration/cases/grub/marker_times.py" "$1.out" "$2" \
        "echo KXEN-SLEEP-A; sleep 1; echo KXEN-SLEEP-B; sleep 3; echo KXEN-SLEEP-C" \
        KXEN-SLEEP-A KXEN-SLEEP-B KXEN-SLEEP-C) || {
        # NUL bytes are writes the file system lost (9p cache=mmap in L1 did), not GRUB's output.
        nuls=$(tr -cd '\000' <"$1.out" | wc -c)
        [ "$nuls" -eq 0 ] || sleep_error="$sleep_error; the console log has $nuls NUL bytes: lost writes"
        return 1
    }
    set -- "$1" $times
    sleep_error=
    one=$(($3 - $2))
    three=$(($4 - $3))
    echo "$1: host ms from marker to marker: 'sleep 1' $one, 'sleep 3' $three"
    if [ "$one" -lt 950 ] || [ "$one" -gt 5000 ]; then
        sleep_error="$1: GRUB's 'sleep 1' took $one ms of host time (want 950 to 5000)"
    elif [ $((three - one)) -lt 1600 ] || [ $((three - one)) -gt 2400 ]; then
        sleep_error="$1: 'sleep 3' took $((three - one)) ms longer than 'sleep 1' (want 2000 +- 400)"
    fi
}

# plain FILE: the console output as text: no ANSI escape sequences, no carriage returns.
plain() {
    sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r//g' "$1"
}

# grub_session NAME SECONDS KXEN-ARGS...: boots the image, waits for the prompt, types
# $GRUB_BEFORE (if set), timed sleeps (if $GRUB_TIMED_SLEEP is set) and a command whose
# output differs from its echo, then "halt" (GRUB powers off: exit 0).
grub_session() {
    name=$1
    limit=$2
    shift 2
    sleep_error=
    # The FIFO lives in /tmp: the lab's shared scratch folder cannot hold one.
    fifo_dir=$(mktemp -d) || fail "mktemp failed"
    mkfifo "$fifo_dir/in" || fail "mkfifo failed"
    "$KXEN" run "$@" <"$fifo_dir/in" >"$name.out" 2>"$name.err" &
    kxen_pid=$!
    exec 3>"$fifo_dir/in"  # the console's input stays open while we type
    rm -rf "$fifo_dir"
    start=$(date +%s)
    if wait_for 'grub> ' "$name.out" "$limit"; then
        echo "$name: prompt after $(($(date +%s) - start)) s"
        # $GRUB_AT_PROMPT: a command run once GRUB waits at its prompt (kxen's pid: $kxen_pid).
        [ -n "${GRUB_AT_PROMPT:-}" ] && eval "$GRUB_AT_PROMPT"
        # GRUB echoes the keys; only the command's own output is the bare word KXEN-TYPED.
        [ -n "${GRUB_BEFORE:-}" ] && printf '%s\n' "$GRUB_BEFORE" >&3
        if [ -z "${GRUB_TIMED_SLEEP:-}" ] || timed_sleep "$name" 30; then
            printf 'set word=TYPED\necho KXEN-$word\n' >&3
            wait_for '^KXEN-TYPED$' "$name.out" "$limit" && printf 'halt\n' >&3
        fi
    fi
    n=0
    # A GRUB stuck in 'sleep' never halts: stop it at once.
    [ -n "$sleep_error" ] && n=$limit
    while kill -0 "$kxen_pid" 2>/dev/null && [ "$n" -lt "$limit" ]; do sleep 1; n=$((n + 1)); done
    # GRUB ignores kxen's polite power-off request: a second TERM stops kxen, KILL at last.
    for sig in TERM TERM KILL; do
        kill -0 "$kxen_pid" 2>/dev/null || break
        kill -"$sig" "$kxen_pid" 2>/dev/null
        n=0
        while kill -0 "$kxen_pid" 2>/dev/null && [ "$n" -lt 10 ]; do sleep 1; n=$((n + 1)); done
    done
    wait "$kxen_pid"
    status=$?
    exec 3>&-
    cat "$name.err"
    echo "$name: exit $status after $(($(date +%s) - start)) s"
    plain "$name.out" >"$name.txt"
    [ -z "$sleep_error" ] || fail "$sleep_error"
    expect_grep '^KXEN-GRUB-MARKER$' "$name.txt"
    expect_grep '^grub> ' "$name.txt"
    expect_grep '^KXEN-TYPED$' "$name.txt"
    if grep -q 'error:' "$name.txt"; then
        grep 'error:' "$name.txt" >&2
        fail "$name: GRUB reported an error"
    fi
    expect_eq "$name exit status after GRUB's halt" "$status" 0
}
