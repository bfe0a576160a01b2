#!/bin/sh
# run-suite itself, on made-up cases: verdicts, reasons, output on failure, headers,
# filters, the closing count, and a lab that fails before any case ran.
# timeout: 90
. "$KXEN_SRC/tests/integration/lib.sh"
suite="$KXEN_SRC/tests/integration/run-suite"

mkdir -p cases/sub
case_file() {  # case_file NAME BODY...: an executable sh case
    name=$1
    shift
    printf '#!/bin/sh\n%s\n' "$@" >"cases/$name"
    chmod +x "cases/$name"
}
case_file pass.sh 'test -n "$KXEN_SCRATCH" && test "$PWD" = "$KXEN_SCRATCH" && test "$KXEN_CASE" = pass'
case_file fail.sh 'echo "why it failed"; exit 3'
case_file slow.sh '# timeout: 1' 'sleep 100'
case_file bad.sh '# needs: bogus' 'exit 0'
case_file sub/env.sh 'test "$KXEN" = "$KXEN_BUILD/kxen" && test -d "$KXEN_SRC/tests/lab"'
case_file xen.sh '# needs: kvm-xen' 'exit 0'
case_file kvm.sh '# needs: kvm' 'echo "in lab: ${KXEN_IN_LAB:-no}"'
printf 'exit 0\n' >cases/not-executable.sh

expect_status 1 "$suite" --direct --cases cases --filter 'p*' --filter 'f*' \
    --filter slow --filter bad --filter 'sub/*' >direct.txt
expect_grep '^PASS pass \([0-9.]+ s\)$' direct.txt
expect_grep '^PASS sub/env ' direct.txt
expect_grep '^FAIL fail: exit 3 ' direct.txt
expect_grep '^    \| why it failed$' direct.txt
expect_grep '^FAIL slow: timeout after 1 s ' direct.txt
expect_grep '^FAIL bad: bad case file: .*unknown needs: bogus' direct.txt
expect_grep '^2 passed, 3 failed$' direct.txt
grep -q 'not-executable\|xen' direct.txt && fail "filtered or non-executable case ran"

"$suite" --cases cases --list >list.txt
expect_grep '^xen	kvm-xen	120 s$' list.txt
expect_grep '^slow	host	1 s$' list.txt
expect_grep '^kvm	kvm	120 s$' list.txt

# A "needs: kvm" case runs here while this machine has a KVM device, in L1 when it has none.
cat >plain-lab <<'LAB'
#!/bin/sh
# tests/lab/run's interface, running the inner command here as L1 would.
while [ "$1" != "--" ]; do shift; done
shift
KXEN_IN_LAB=1 exec "$@"
LAB
chmod +x plain-lab
KXEN_SUITE_KVM=/dev/null KXEN_LAB_RUN=$PWD/plain-lab expect_status 0 "$suite" --lab -v --cases cases \
    --filter kvm >kvm-here.txt 2>&1
expect_grep '^    \| in lab: no$' kvm-here.txt
KXEN_SUITE_KVM=/nonexistent/kvm KXEN_LAB_RUN=$PWD/plain-lab expect_status 0 "$suite" --lab -v \
    --cases cases --filter kvm --filter xen >kvm-lab.txt 2>&1
expect_grep '^lab: running 2 case\(s\) in L1$' kvm-lab.txt
expect_grep '^    \| in lab: 1$' kvm-lab.txt
KXEN_SUITE_KVM=/nonexistent/kvm expect_status 0 "$suite" --lab --where here --cases cases \
    --filter kvm --filter xen >where.txt 2>&1
expect_grep '^suite: no case runs here$' where.txt
expect_grep '^0 passed, 0 failed$' where.txt

# A lab that cannot start: the kvm-xen case is not run, and counted as failed.
KXEN_CACHE=/proc/no-such-cache expect_status 1 "$suite" --lab --cases cases --filter xen \
    >lab.txt 2>&1
expect_grep '^lab: setup failed: ' lab.txt
expect_grep '^FAIL xen: not run: lab: L1 failed' lab.txt
expect_grep '^0 passed, 1 failed$' lab.txt

# L1 dies after the cases started (first boot only): the cases left run once more in a fresh L1.
cat >fake-lab <<'LAB'
#!/bin/sh
# tests/lab/run's interface: options, --, the inner command. The first call dies like a
# panicking L1 after the inner run saved its empty result list; later calls run it.
while [ "$1" != "--" ]; do shift; done
shift
if [ ! -e "$KXEN_SCRATCH/lab-died" ]; then
    touch "$KXEN_SCRATCH/lab-died"
    while [ "$1" != "--results" ]; do shift; done
    echo '[]' >"$2"
    echo "lab: L1 failed: [   39.9] Kernel panic - not syncing: made up" >&2
    exit 125
fi
exec "$@"
LAB
chmod +x fake-lab
KXEN_LAB_RUN=$PWD/fake-lab expect_status 0 "$suite" --lab --cases cases --filter xen >died.txt 2>&1
expect_grep '^lab: L1 died during the cases; running the 1 without a result \(xen\) once more' died.txt
expect_grep '^PASS xen ' died.txt
expect_grep '^1 passed, 0 failed$' died.txt

expect_status 1 "$suite" --cases cases --filter 'nothing*' >none.txt
expect_grep '^suite: no case matches nothing\*$' none.txt
exit 0
