# Shared by the hostile-dos cases: start kxen on an attack, wait for its markers, and check that
# kxen stays up, answers SIGUSR1, bounds its memory and stops on SIGTERM. Sourced, not a case.

# dos_start NAME ARGS...: runs kxen in the background (NAME.out, NAME.err); sets DOS_PID.
dos_start() {
    dos_name=$1
    shift
    "$KXEN" run --shutdown-timeout 3 "$@" >"$dos_name.out" 2>"$dos_name.err" &
    DOS_PID=$!
}

# dos_wait_marker REGEX SECONDS: the guest printed REGEX within SECONDS, and kxen still runs.
dos_wait_marker() {
    i=0
    while ! grep -Eq -- "$1" "$dos_name.out"; do
        kill -0 "$DOS_PID" 2>/dev/null || { cat "$dos_name.err" >&2; fail "$dos_name: kxen ended before '$1'"; }
        i=$((i + 1))
        [ $i -le $(($2 * 10)) ] || { cat "$dos_name.out" "$dos_name.err" >&2; fail "$dos_name: no '$1' within $2 s"; }
        sleep 0.1
    done
}

# dos_rss_kib: kxen's resident set now, in KiB.
dos_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$DOS_PID/status"
}

# dos_check_sigusr1: SIGUSR1 makes kxen say where vCPU 0 is within 3 s (not "busy in kxen").
dos_check_sigusr1() {
    kill -USR1 "$DOS_PID"
    i=0
    while ! grep -Eq 'vcpu0: .*rip=|vcpu0: busy in kxen' "$dos_name.err"; do
        i=$((i + 1))
        [ $i -le 30 ] || fail "$dos_name: no answer to SIGUSR1 within 3 s"
        sleep 0.1
    done
    sleep 0.2
    if grep -q 'vcpu0: busy in kxen' "$dos_name.err"; then
        fail "$dos_name: vCPU 0 stayed inside one hypercall for over a second"
    fi
    grep -E 'vcpu0: ' "$dos_name.err" | tail -n 1
}

# dos_check_sigterm: SIGTERM ends kxen within the shutdown timeout (3 s) plus 5 s; these guests
# ignore control/shutdown, so kxen stops them itself: 128 + 15.
dos_check_sigterm() {
    kill -TERM "$DOS_PID"
    i=0
    while kill -0 "$DOS_PID" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 80 ]; then
            kill -KILL "$DOS_PID"
            fail "$dos_name: kxen did not stop within 8 s of SIGTERM"
        fi
        sleep 0.1
    done
    wait "$DOS_PID"
    expect_eq "$dos_name exit status after SIGTERM" "$?" 143
}

# dos_check_growth WHAT BEFORE_KIB AFTER_KIB LIMIT_KIB (the normal build's run checks the bound;
# an ASan kxen keeps freed memory in its quarantine, hundreds of MiB, so its RSS says nothing)
dos_check_growth() {
    echo "$dos_name: RSS $2 KiB -> $3 KiB during $1"
    if grep -q __asan_init "$KXEN" 2>/dev/null; then
        echo "$dos_name: ASan build: RSS bound not checked"
        return 0
    fi
    [ $(($3 - $2)) -le "$4" ] || fail "$dos_name: RSS grew by $(($3 - $2)) KiB during $1 (limit $4 KiB)"
}

# dos_check_continuations MIN SECONDS: a SIGUSR1 report counts at least MIN continuations within
# SECONDS, so the hypercall is being re-issued in batches and has not just returned. Asked once a
# second: the ASan kxen in the lab's L1 continued 65 times in the first 2 s.
dos_check_continuations() {
    i=0
    while :; do
        n=$(grep -Eo '[0-9]+ hypercall continuations' "$dos_name.err" | tail -n 1 | cut -d' ' -f1)
        [ "${n:-0}" -lt "$1" ] && [ $i -lt "$2" ] || break
        kill -USR1 "$DOS_PID"
        sleep 1
        i=$((i + 1))
    done
    [ "${n:-0}" -ge "$1" ] || fail "$dos_name: ${n:-no} hypercall continuations in $2 s, expected at least $1"
    echo "$dos_name: $n hypercall continuations after $((2 + i)) s"
    if grep -q 'gnttab-copy: returned' "$dos_name.out"; then
        fail "$dos_name: the 2^31-operation copy returned early"
    fi
}

# dos_copy_attack KXEN_RUN_ARGS...: the 2^31-operation GNTTABOP_copy: after 2 s inside it kxen
# answers SIGUSR1, kept its memory, continues the call at least 100 times within 30 s more, and
# stops on SIGTERM.
dos_copy_attack() {
    dos_start copy "$@"
    dos_wait_marker 'gnttab-copy: one GNTTABOP_copy' 60
    before=$(dos_rss_kib)
    sleep 2
    after=$(dos_rss_kib)
    dos_check_sigusr1
    dos_check_growth "2 s of copy operations" "$before" "$after" 2048
    dos_check_continuations 100 30
    dos_check_sigterm
}
