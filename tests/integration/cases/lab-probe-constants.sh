#!/bin/sh
# tests/lab/kvm-xen-caps hard-codes KVM constants: they must match <linux/kvm.h>,
# and its verdict must follow the flags (checked on this machine's own /dev/kvm).
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

# Exit status: 0 iff both required flags, 1 if not, 2 if /dev/kvm cannot be opened.
mask=$("$KXEN_SRC/tests/lab/kvm-xen-caps" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["mask"])')
[ -n "$mask" ] || fail "the probe could not query /dev/kvm"
"$KXEN_SRC/tests/lab/kvm-xen-caps" -q
status=$?
if [ $((mask & 34)) -eq 34 ]; then want=0; else want=1; fi
expect_eq "probe status for mask $mask" "$status" "$want"
expect_status 2 "$KXEN_SRC/tests/lab/kvm-xen-caps" -q --device "$KXEN_SCRATCH/none"
exit 0
