#!/bin/sh
# hello and crash, 32- and 64-bit, through the hypercall-page transport on this machine's own KVM.
# needs: kvm
# timeout: 120
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen

for bits in 32 64; do
    "$KXEN" run --transport hypercall-page --kernel "$KXEN_BUILD/tests/guests/hello-$bits" \
        >hello-$bits.out 2>hello-$bits.err
    status=$?
    cat hello-$bits.err
    expect_eq "hello-$bits exit status" "$status" 0
    # console_io and port 0xE9 both carry the line.
    expect_eq "hello-$bits line count" "$(grep -c "^hello from kxen guest ($bits-bit)$" hello-$bits.out)" 2
    expect_grep '^hello: Xen version 4\.17' hello-$bits.out
    expect_grep 'transport hypercall-page' hello-$bits.out

    "$KXEN" run --transport hypercall-page --kernel "$KXEN_BUILD/tests/guests/crash-$bits" \
        >crash-$bits.out 2>crash-$bits.err
    status=$?
    expect_eq "crash-$bits exit status" "$status" 3
    expect_grep "requesting SHUTDOWN_crash \($bits-bit\)" crash-$bits.out
    expect_grep 'guest crashed' crash-$bits.err
done
exit 0
