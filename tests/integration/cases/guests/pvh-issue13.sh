#!/bin/sh
# Issue 13 on the hypercall-page transport: an ELF32 EM_X86_64 image boots, add_to_physmap of
# grant frames and shared_info onto RAM as Xen does, and CPUID/MADT offer no absent APIC.
# needs: kvm
# timeout: 120
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen

run_guest() {  # NAME TRANSPORT: runs build/tests/guests/NAME, output in NAME.out/.err
    "$KXEN" run --transport "$2" --kernel "$KXEN_BUILD/tests/guests/$1" >"$1.out" 2>"$1.err"
    status=$?
    cat "$1.err"
    expect_eq "$1 exit status" "$status" 0
}

# objcopy -O elf32-x86-64 of hello-64: a 32-bit container around 64-bit code.
run_guest hello-64-elf32 hypercall-page
expect_eq "hello-64-elf32 line count" "$(grep -c '^hello from kxen guest (64-bit)$' hello-64-elf32.out)" 2

for bits in 32 64; do
    run_guest physmap-$bits hypercall-page
    expect_grep "^physmap: [0-9]+ checks passed \($bits-bit\)$" physmap-$bits.out
    expect_grep 'RAM page at gfn 0x[0-9a-f]+ is replaced by the \(empty\) grant frame' physmap-$bits.out
    run_guest apic-$bits hypercall-page
    expect_grep "^apic: no APIC offered, no MADT \($bits-bit\)$" apic-$bits.out
done
if grep -q 'with no device' ./*.err; then fail "unclaimed MMIO logged above debug level"; fi
exit 0
