#!/bin/sh
# The PV console on a real terminal (a tmux pane): kxen makes it raw while it runs, a shell
# on the guest's hvc0 runs a typed command, Ctrl-] ends kxen (status 0), and the terminal's
# settings afterwards are exactly those from before (cooked: icanon, echo).
# needs: kvm-xen
# timeout: 300
. "$KXEN_SRC/tests/integration/lib.sh"
. "$KXEN_SRC/tests/integration/cases/console/console-common.sh"
need_kxen
kernel=$(debian_kernel 6.12) || exit 1

busybox_initramfs initrd.gz <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
export PS1='kxen-sh> '
# A session of its own with hvc0 (the active console) as its controlling terminal.
exec setsid cttyhack sh
INIT

# The pane: terminal settings before and after kxen, kxen's status as a file.
cat >pane.sh <<PANE
stty -g >stty.before
"$KXEN" run -v --kernel "$kernel" --initrd initrd.gz --memory 512M \
    --cmdline 'console=hvc0 loglevel=4' 2>kxen.err
echo \$? >kxen.status.new
stty -g >stty.after
stty -a >stty.after.txt
mv kxen.status.new kxen.status
echo PANE-DONE
exec sleep 1000
PANE
start=$(date +%s)
tmux_start "cd '$PWD' && sh pane.sh"
pane_tty=$(tmux_do display-message -p -t kxen '#{pane_tty}') || fail "no pane tty"

show() {
    echo "--- the pane (blank lines left out):"
    grep -v '^$' screen.txt
    echo "--- kxen's stderr:"
    cat kxen.err
}
wait_screen '^kxen-sh>' 180 || { show; fail "no shell prompt on the console"; }
echo "prompt after $(($(date +%s) - start)) s"
# While kxen runs, its terminal is raw: keys go to the guest, not to a line editor.
stty -a -F "$pane_tty" >stty.during || fail "stty -F $pane_tty failed"
grep -Eq '(^| )-icanon( |$)' stty.during && grep -Eq '(^| )-echo( |$)' stty.during ||
    { cat stty.during; fail "the terminal is not raw while kxen runs"; }

# The guest's shell echoes the keys; only the command's output is a bare "42".
tmux_do send-keys -t kxen -l 'echo $((6*7))' || fail "send-keys failed"
tmux_do send-keys -t kxen Enter
wait_screen '^42$' 60 || { show; fail "the typed command's output never came back"; }

tmux_do send-keys -t kxen C-]
n=0
until [ -e kxen.status ]; do
    n=$((n + 1))
    [ "$n" -le 150 ] || { show; fail "kxen still runs 30 s after Ctrl-]"; }
    sleep 0.2
done
screen screen.txt
show
expect_eq "kxen's exit status after Ctrl-]" "$(cat kxen.status)" 0
expect_grep 'console: attached to the terminal; Ctrl-\] leaves' kxen.err
expect_grep 'console: escape key pressed' kxen.err
expect_eq "terminal settings after kxen (stty -g)" "$(cat stty.after)" "$(cat stty.before)"
grep -Eq '(^| )icanon( |$)' stty.after.txt && grep -Eq '(^| )echo( |$)' stty.after.txt ||
    { cat stty.after.txt; fail "the terminal is not cooked after kxen"; }
exit 0
