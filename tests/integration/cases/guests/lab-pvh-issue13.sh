#!/bin/sh
# Issue 13 in the lab, both transports: ELF32 EM_X86_64 boots, add_to_physmap over RAM, CPUID's
# APIC bits match what exists (x2APIC SVR writable under kvm-xen; no APIC and no MADT on the
# hypercall page), and a 32-bit guest with PAE paging on before its first hypercall completes.
# needs: kvm-xen
# timeout: 300
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen

run_guest() {  # NAME TRANSPORT CMDLINE TAG
    timeout 60 "$KXEN" run --transport "$2" --cmdline "$3" --kernel "$KXEN_BUILD/tests/guests/$1" >"$4.out" 2>"$4.err"
    status=$?
    cat "$4.err"
    expect_eq "$4 exit status" "$status" 0
}

for transport in kvm-xen hypercall-page; do
    modes="page"
    [ "$transport" = kvm-xen ] && modes="direct page"
    for mode in $modes; do
        cmdline=""
        [ "$mode" = direct ] && cmdline="hcall=direct"
        tag=$transport-$mode
        run_guest hello-64-elf32 $transport "$cmdline" elf32-$tag
        expect_eq "elf32-$tag line count" "$(grep -c '^hello from kxen guest (64-bit)$' elf32-$tag.out)" 2
        run_guest pae-32 $transport "$cmdline" pae-$tag
        expect_grep '^pae: [0-9]+ checks passed \(32-bit\)$' pae-$tag.out
        for bits in 32 64; do
            run_guest physmap-$bits $transport "$cmdline" physmap-$bits-$tag
            expect_grep "^physmap: [0-9]+ checks passed \($bits-bit\)$" physmap-$bits-$tag.out
            run_guest apic-$bits $transport "$cmdline" apic-$bits-$tag
            if [ "$transport" = kvm-xen ]; then
                expect_grep "^apic: x2APIC SVR ok \($bits-bit\)$" apic-$bits-$tag.out
            else
                expect_grep "^apic: no APIC offered, no MADT \($bits-bit\)$" apic-$bits-$tag.out
            fi
        done
    done
done
exit 0
