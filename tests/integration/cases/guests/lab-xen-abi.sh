#!/bin/sh
# xen-abi (64- and 32-bit) through KVM's Xen support, with the hypercall page and with direct
# vmcall/vmmcall (hcall=direct), once per --evtchn-abi: the default (auto) keeps KVM's in-kernel
# 2-level delivery and refuses FIFO, so the guest is told fifo=optional and must say it skipped
# that phase; with --evtchn-abi fifo the FIFO phase is required and passes on top of KVM.
# needs: kvm-xen
# timeout: 1200
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen

for abi in auto fifo; do
    for bits in 64 32; do
        for mode in direct page; do
            cmdline="runstate=kvm"
            [ "$abi" = auto ] && cmdline="fifo=optional $cmdline"
            [ "$mode" = direct ] && cmdline="hcall=direct $cmdline"
            out=xen-abi-$abi-$bits-$mode
            set -- --transport kvm-xen --evtchn-abi $abi --kernel "$KXEN_BUILD/tests/guests/xen-abi-$bits"
            set -- "$@" --cmdline "$cmdline"
            "$KXEN" run "$@" >$out.out 2>$out.err
            status=$?
            cat $out.err
            grep -E '^(FAIL|xen-abi:|XEN-ABI)' $out.out
            expect_eq "$out exit status" "$status" 0
            expect_grep "^XEN-ABI-PASS [0-9]+ checks \($bits-bit\)$" $out.out
            if grep -q '^FAIL' $out.out; then fail "$out printed a FAIL line"; fi
            if [ "$abi" = auto ]; then
                expect_grep 'FIFO phase skipped: EVTCHNOP_init_control returned -ENOSYS' $out.out
            else
                if grep -q 'FIFO phase skipped' $out.out; then fail "$out skipped FIFO"; fi
                expect_grep '^ok [0-9]+ queue 7 head$' $out.out
            fi
            n=$(sed -n "s/^XEN-ABI-PASS \([0-9]*\) checks.*/\1/p" $out.out)
            expect_eq "$out ok lines" "$(grep -c '^ok [0-9]* ' $out.out)" "$n"
            [ "$mode" = direct ] && expect_grep 'transport (vmcall|vmmcall)' $out.out
            [ "$mode" = page ] && expect_grep 'transport hypercall-page' $out.out
        done
    done
done
exit 0
