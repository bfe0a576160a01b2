#!/bin/sh
# hello and crash, 32- and 64-bit, through KVM's Xen support: VMCALL/VMMCALL exits (KVM_EXIT_XEN).
# needs: kvm-xen
# timeout: 120
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen

for bits in 32 64; do
    # hcall=direct: the guest issues vmcall/vmmcall itself instead of calling the hypercall page.
    for mode in direct page; do
        cmdline=""
        [ "$mode" = direct ] && cmdline="hcall=direct"
        out=hello-$bits-$mode
        "$KXEN" run --transport kvm-xen --cmdline "$cmdline" --kernel "$KXEN_BUILD/tests/guests/hello-$bits" \
            >$out.out 2>$out.err
        status=$?
        cat $out.err
        expect_eq "$out exit status" "$status" 0
        expect_eq "$out line count" "$(grep -c "^hello from kxen guest ($bits-bit)$" $out.out)" 2
        expect_grep '^hello: Xen version 4\.17' $out.out
        [ "$mode" = direct ] && expect_grep 'transport (vmcall|vmmcall)' $out.out
        [ "$mode" = page ] && expect_grep 'transport hypercall-page' $out.out
    done

    "$KXEN" run --transport kvm-xen --cmdline hcall=direct --kernel "$KXEN_BUILD/tests/guests/crash-$bits" \
        >crash-$bits.out 2>crash-$bits.err
    status=$?
    expect_eq "crash-$bits exit status" "$status" 3
    expect_grep "requesting SHUTDOWN_crash \($bits-bit\)" crash-$bits.out
done

# --prefault-memory: all RAM written and mapped into KVM's stage-2 tables before the guest runs.
"$KXEN" run -v --prefault-memory --kernel "$KXEN_BUILD/tests/guests/hello-64" >prefault.out 2>prefault.err
expect_eq "prefault exit status" "$?" 0
expect_grep 'pre-faulted 512 MiB of guest RAM' prefault.err
expect_eq "prefault line count" "$(grep -c '^hello from kxen guest (64-bit)$' prefault.out)" 2

# ud2 with no IDT escalates to a triple fault: crash code 3, and where L1 traces shutdown exits
# (tests/lab/init) the exit is there with what the vCPU was delivering.
python3 "$KXEN_SRC/tests/integration/cases/cli/make_elf.py" ud2.elf 0x100000 0x1000 --code 0f0b
"$KXEN" run --transport kvm-xen --kernel ud2.elf >ud2.out 2>ud2.err
expect_eq "ud2 exit status" "$?" 3
expect_grep 'triple fault \(KVM_EXIT_SHUTDOWN\)' ud2.err
filter=/sys/kernel/tracing/events/kvm/kvm_exit/filter
if grep -q 'exit_reason == 127' "$filter" 2>/dev/null; then
    expect_grep 'kvm_exit: vcpu 0 reason shutdown rip 0x100000 ' /sys/kernel/tracing/trace
fi

# auto picks kvm-xen here and says so.
"$KXEN" run -v --kernel "$KXEN_BUILD/tests/guests/hello-64" >auto.out 2>auto.err
expect_eq "auto exit status" "$?" 0
expect_grep 'hypercall transport kvm-xen' auto.err
exit 0
