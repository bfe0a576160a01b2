#!/bin/sh
# xen-abi (64- and 32-bit) through the hypercall-page transport on this machine's own KVM:
# event channels (2-level and FIFO), grant tables v1/v2 with GNTTABOP_copy, XenStore
# (transactions, watches, permissions) and time (the pvclock kxen publishes, user-space timers,
# runstate) checked result by result; FIFO is required here.
# needs: kvm
# timeout: 180
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen

for bits in 64 32; do
    out=xen-abi-$bits
    "$KXEN" run --transport hypercall-page --kernel "$KXEN_BUILD/tests/guests/xen-abi-$bits" \
        >$out.out 2>$out.err
    status=$?
    cat $out.err
    grep -E '^(FAIL|xen-abi:|XEN-ABI)' $out.out
    expect_eq "xen-abi-$bits exit status" "$status" 0
    expect_grep "^XEN-ABI-PASS [0-9]+ checks \($bits-bit\)$" $out.out
    expect_grep 'transport hypercall-page' $out.out
    if grep -q '^FAIL' $out.out; then fail "xen-abi-$bits printed a FAIL line"; fi
    if grep -q 'FIFO phase skipped' $out.out; then fail "xen-abi-$bits skipped FIFO on the hypercall page"; fi
    # Every check prints one numbered ok line, and the final count matches them.
    n=$(sed -n "s/^XEN-ABI-PASS \([0-9]*\) checks.*/\1/p" $out.out)
    expect_eq "xen-abi-$bits ok lines" "$(grep -c '^ok [0-9]* ' $out.out)" "$n"
    expect_grep '^ok [0-9]+ GNTTABOP_copy v2 into a sub-page window: status$' $out.out
    expect_grep '^ok [0-9]+ XS_TRANSACTION_END of a conflicting transaction$' $out.out
    expect_grep '^ok [0-9]+ queue 7 head$' $out.out
    expect_grep '^ok [0-9]+ periodic timer tick 4$' $out.out
    expect_grep '^ok [0-9]+ VCPU_SSHOTTMR_future on a past deadline$' $out.out
done
exit 0
