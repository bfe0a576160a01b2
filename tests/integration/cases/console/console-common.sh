# Shared by the console cases (sourced, not a case: no shebang, not executable).
# A Debian kernel, a busybox initramfs, and a kxen run inside a private tmux server, so
# that kxen's stdin and stdout are a real terminal (a pty) driven by tmux send-keys.

# debian_kernel SERIES: the newest cached bzImage of that series (tests/fetch-kernels).
debian_kernel() {
    dir=${KXEN_KERNEL_DIR:-${KXEN_CACHE:-/var/cache/kxen}/kernels}
    found=$(ls -d "$dir"/vmlinuz-"$1".* 2>/dev/null | sort | tail -n 1)
    [ -n "$found" ] || fail "no $1 kernel in $dir (run tests/fetch-kernels)"
    echo "$found"
}

# busybox_initramfs OUT: a gzip'd newc cpio of static busybox and /init read from stdin.
busybox_initramfs() {
    rm -rf root
    mkdir -p root/bin root/proc root/sys root/dev || fail "mkdir failed"
    cp /bin/busybox root/bin/busybox || fail "no /bin/busybox (apt-get install busybox-static)"
    cat >root/init || fail "cannot write root/init"
    chmod +x root/init
    (cd root && find . | cpio -o -H newc 2>/dev/null | gzip) >"$1" || fail "cpio failed"
}

# tmux_start COMMAND: a detached session "kxen" running COMMAND in a 160x48 pane, on a
# server of its own (socket in /tmp: the lab's 9p scratch cannot hold one); stopped on exit.
tmux_start() {
    command -v tmux >/dev/null || fail "no tmux (run tests/install-deps)"
    export TERM="${TERM:-xterm}"
    tmux_dir=$(mktemp -d) || fail "mktemp failed"
    tmux_sock="$tmux_dir/sock"
    trap 'tmux -S "$tmux_sock" kill-server 2>/dev/null; rm -rf "$tmux_dir"' EXIT
    tmux -S "$tmux_sock" -f /dev/null new-session -d -s kxen -x 160 -y 48 "$1" ||
        fail "tmux new-session failed"
}

tmux_do() {
    tmux -S "$tmux_sock" "$@"
}

# screen FILE: what the pane shows, with its history, trailing blanks and CRs removed.
screen() {
    tmux_do capture-pane -p -J -S -1000 -t kxen | sed 's/\r//g; s/[[:space:]]*$//' >"$1"
}

# wait_screen REGEX SECONDS: until a line of the pane matches (extended regex); 1 on
# timeout or when the file kxen.status appears first (kxen ended).
wait_screen() {
    deadline=$(($(date +%s) + $2))
    while [ "$(date +%s)" -le "$deadline" ]; do
        screen screen.txt
        grep -Eq -- "$1" screen.txt && return 0
        [ -e kxen.status ] && { screen screen.txt; grep -Eq -- "$1" screen.txt; return; }
        sleep 0.5
    done
    return 1
}
