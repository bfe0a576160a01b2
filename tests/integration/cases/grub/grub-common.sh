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

# plain FILE: the console output as text: no ANSI escape sequences, no carriage returns.
plain() {
    sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r//g' "$1"
}

# grub_session NAME SECONDS KXEN-ARGS...: boots the image, waits for the prompt, types
# $GRUB_BEFORE (if set) and a command whose output differs from its echo, then "halt"
# (GRUB powers off: exit 0).
grub_session() {
    name=$1
    limit=$2
    shift 2
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
        printf 'set word=TYPED\necho KXEN-$word\n' >&3
        wait_for '^KXEN-TYPED$' "$name.out" "$limit" && printf 'halt\n' >&3
    fi
    n=0
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
    expect_grep '^KXEN-GRUB-MARKER$' "$name.txt"
    expect_grep '^grub> ' "$name.txt"
    expect_grep '^KXEN-TYPED$' "$name.txt"
    if grep -q 'error:' "$name.txt"; then
        grep 'error:' "$name.txt" >&2
        fail "$name: GRUB reported an error"
    fi
    expect_eq "$name exit status after GRUB's halt" "$status" 0
}
