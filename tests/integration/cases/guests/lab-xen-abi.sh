#!/bin/sh
# xen-abi (64- and 32-bit) through KVM's Xen support, with the hypercall page and with direct
# vmcall/vmmcall (hcall=direct). kxen keeps KVM's in-kernel 2-level delivery on this transport
# and refuses FIFO, so the guest is told fifo=optional and must say it skipped that phase.
# needs: kvm-xen
# timeout: 900
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen

for bits in 64 32; do
    for mode in direct page; do
        cmdline="fifo=optional"
        [ "$mode" = direct ] && cmdline="hcall=direct fifo=optional"
        out=xen-abi-$bits-$mode
        "$KXEN" run --transport kvm-xen --cmdline "$cmdline" \
            --kernel "$KXEN_BUILD/tests/guests/xen-abi-$bits" >$out.out 2>$out.err
        status=$?
        cat $out.err
        grep -E '^(FAIL|xen-abi:|XEN-ABI)' $out.out
        expect_eq "$out exit status" "$status" 0
        expect_grep "^XEN-ABI-PASS [0-9]+ checks \($bits-bit\)$" $out.out
        if grep -q '^FAIL' $out.out; then fail "$out printed a FAIL line"; fi
        expect_grep 'FIFO phase skipped: EVTCHNOP_init_control returned -ENOSYS' $out.out
        n=$(sed -n "s/^XEN-ABI-PASS \([0-9]*\) checks.*/\1/p" $out.out)
        expect_eq "$out ok lines" "$(grep -c '^ok [0-9]* ' $out.out)" "$n"
        [ "$mode" = direct ] && expect_grep 'transport (vmcall|vmmcall)' $out.out
        [ "$mode" = page ] && expect_grep 'transport hypercall-page' $out.out
    done
done
exit 0
