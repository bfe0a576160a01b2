#!/bin/sh
# tests/lab/kvm-xen-caps and kvm-keeper hard-code KVM constants: they must match <linux/kvm.h>,
# and its verdict must follow the flags (checked on this machine's own /dev/kvm).
# needs: kvm
# timeout: 30
. "$KXEN_SRC/tests/integration/lib.sh"
header=/usr/include/linux/kvm.h
[ -f "$header" ] || fail "$header missing (apt-get install linux-libc-dev)"

python3 - "$KXEN_SRC/tests/lab/kvm-xen-caps" "$header" <<'EOF' || fail "constants differ"
import importlib.machinery, re, sys
probe = importlib.machinery.SourceFileLoader("probe", sys.argv[1]).load_module()
text = open(sys.argv[2]).read()
defines = dict(re.findall(r"#define\s+(KVM\w+)\s+\(?([^\n/]+?)\)?\s*(?:/\*.*)?$", text, re.M))
assert defines["KVM_CAP_XEN_HVM"] == str(probe.KVM_CAP_XEN_HVM), defines["KVM_CAP_XEN_HVM"]
assert re.search(r"KVM_CHECK_EXTENSION\s+_IO\(KVMIO,\s*0x03\)", text)
assert defines["KVMIO"] == "0xAE" and probe.KVM_CHECK_EXTENSION == 0xAE03
checked = 0
for name, bit in probe.FLAGS:
    value = defines.get(f"KVM_XEN_HVM_CONFIG_{name}")
    if value is not None:  # older headers lack the newest flags
        shift = re.fullmatch(r"1\s*<<\s*(\d+)", value)
        assert shift and 1 << int(shift.group(1)) == bit, (name, value)
        checked += 1
assert checked >= 6, f"only {checked} flags found in the header"
print(f"{checked} flags match")
EOF

asm_header=$(ls /usr/include/*/asm/kvm.h /usr/include/asm/kvm.h 2>/dev/null | head -n 1)
[ -n "$asm_header" ] || fail "no asm/kvm.h (apt-get install linux-libc-dev)"
python3 - "$KXEN_SRC/tests/lab/kvm-keeper" "$header" "$asm_header" <<'EOF' || fail "kvm-keeper's constants differ"
import importlib.machinery, re, sys
keeper = importlib.machinery.SourceFileLoader("keeper", sys.argv[1]).load_module()
text = open(sys.argv[2]).read() + open(sys.argv[3]).read()
for name, nr in (("KVM_CREATE_VM", 0x01), ("KVM_CREATE_VCPU", 0x41), ("KVM_CREATE_IRQCHIP", 0x60)):
    assert re.search(rf"#define {name}\s+_IO\(KVMIO,\s*0x{nr:02x}\)", text, re.I), name
    assert getattr(keeper, name) == 0xAE00 | nr, name
assert re.search(r"#define KVM_SET_MSRS\s+_IOW\(KVMIO,\s*0x89,\s*struct kvm_msrs\)", text)
msrs = re.search(r"struct kvm_msrs \{(.*?)\};", text, re.S).group(1)
assert re.findall(r"__u32 (\w+);", msrs) == ["nmsrs", "pad"], msrs
assert keeper.KVM_SET_MSRS == (1 << 30) | (8 << 16) | 0xAE89
entry = re.search(r"struct kvm_msr_entry \{(.*?)\};", text, re.S).group(1)
assert re.findall(r"__u(\d+) (\w+);", entry) == [("32", "index"), ("32", "reserved"), ("64", "data")], entry
assert re.search(r"#define KVM_XEN_HVM_CONFIG\s+_IOW\(KVMIO,\s*0x7a,\s*struct kvm_xen_hvm_config\)", text)
struct = re.search(r"struct kvm_xen_hvm_config \{(.*?)\};", text, re.S).group(1)
fields = re.findall(r"__u(8|32|64) (\w+)(?:\[(\d+)\])?;", struct)
size = sum(int(bits) // 8 * int(count or 1) for bits, _, count in fields)
assert [f[1] for f in fields][:2] == ["flags", "msr"], fields
assert size == keeper.KVM_XEN_HVM_CONFIG_SIZE == len(keeper.xen_hvm_config()), size
assert keeper.KVM_XEN_HVM_CONFIG == (1 << 30) | (size << 16) | 0xAE7A
assert re.search(r"KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL\s+\(1 << 1\)", text)
print(f"kvm-keeper: 5 ioctls match, kvm_xen_hvm_config is {size} bytes")
EOF
# The keeper holds a VM on any KVM (the Xen MSR only where KVM has Xen support).
"$KXEN_SRC/tests/lab/kvm-keeper" --once >keeper.out
expect_grep '^kvm-keeper: holding a VM \(preempt notifiers\), a vCPU with a soft-disabled in-kernel LAPIC, hard-disabled, .*, a vCPU without an in-kernel LAPIC$' keeper.out

# Exit status: 0 iff both required flags, 1 if not, 2 if /dev/kvm cannot be opened.
mask=$("$KXEN_SRC/tests/lab/kvm-xen-caps" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["mask"])')
[ -n "$mask" ] || fail "the probe could not query /dev/kvm"
"$KXEN_SRC/tests/lab/kvm-xen-caps" -q
status=$?
if [ $((mask & 34)) -eq 34 ]; then want=0; else want=1; fi
expect_eq "probe status for mask $mask" "$status" "$want"
expect_status 2 "$KXEN_SRC/tests/lab/kvm-xen-caps" -q --device "$KXEN_SCRATCH/none"
exit 0
