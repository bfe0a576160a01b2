#!/bin/sh
# Every bad input gets one clear line on stderr, the documented exit code, and no guest run.
# needs: kvm
# timeout: 120
. "$KXEN_SRC/tests/integration/lib.sh"
need_kxen
guests="$KXEN_BUILD/tests/guests"
make_elf="python3 $KXEN_SRC/tests/integration/cases/cli/make_elf.py"
n=0
as=""  # set to a setpriv prefix to run kxen as an unprivileged user
nobody="setpriv --reuid=nobody --regid=nogroup --clear-groups"

# expect_error CODE REGEX KXEN-ARGS...: kxen exits CODE, prints exactly one stderr line matching REGEX
# and nothing on stdout (no guest output).
expect_error() {
    code=$1 regex=$2
    shift 2
    n=$((n + 1))
    $as "$KXEN" "$@" >out.$n 2>err.$n </dev/null
    got=$?
    [ "$got" -eq "$code" ] || { cat err.$n >&2; fail "kxen $* exited $got, expected $code"; }
    expect_grep "$regex" err.$n
    lines=$(grep -vc '^ *$' err.$n)
    [ "$lines" -eq 1 ] || { cat err.$n >&2; fail "kxen $*: $lines stderr lines, expected one"; }
    [ ! -s out.$n ] || fail "kxen $*: wrote to stdout: $(head -c 200 out.$n)"
}

hello="$guests/hello-64"
expect_error 2 'missing\.elf: no such file' run --kernel missing.elf
expect_error 2 'initrd\.img: no such file' run --kernel "$hello" --initrd initrd.img
mkdir adir
expect_error 2 'adir: .*directory' run --kernel adir
echo "just text" >text.bin
expect_error 2 'text\.bin: neither an ELF nor a Linux bzImage' run --kernel text.bin
expect_error 2 'not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY' run --kernel /bin/true
cp "$hello" unreadable.elf
chmod 000 unreadable.elf
chmod 755 .
as=$nobody
expect_error 2 'unreadable\.elf: permission denied' run --kernel unreadable.elf
as=""

# Segments that do not fit guest RAM or land on the boot-info area (start_info at 0x6000).
$make_elf high.elf 0x7f000000 0x100000
expect_error 2 'kernel segment 0x7f000000-0x7f100000 is not in free guest RAM' run --kernel high.elf --memory 64M
$make_elf low.elf 0x6000 0x1000
expect_error 2 'kernel segment 0x6000-.*(overlap|boot|start_info|not in free guest RAM)' run --kernel low.elf

# Memory: too small for kernel + initrd, not a size, more than the host has.
truncate -s 40M big.initrd
expect_error 2 '(too small|does not fit|no room).*initrd|initrd.*(too small|does not fit|no room)' \
    run --kernel "$hello" --initrd big.initrd --memory 32M
expect_error 2 'memory.*(host|more than)' run --kernel "$hello" --memory 100000G
expect_error 2 '--memory lots: not a size' run --kernel "$hello" --memory lots

# vCPUs and command line.
expect_error 2 '--vcpus 0' run --kernel "$hello" --vcpus 0
expect_error 2 '--vcpus 100000: this host.s KVM allows 1 to [0-9]+' run --kernel "$hello" --vcpus 100000
long=$(head -c 3000 /dev/zero | tr '\0' x)
expect_error 2 'command line is 3000 bytes; the limit is 2047' run --kernel "$hello" --cmdline "$long"

# KVM device: missing, not permitted.
expect_error 1 '/nonexistent/kvm not found: .*modprobe' run --kernel "$hello" --kvm-device /nonexistent/kvm
cp "$hello" readable.elf
chmod 644 readable.elf
as=$nobody
expect_error 1 '/dev/kvm: permission denied; run as root or add your user to the .kvm. group' \
    run --kernel readable.elf
as=""

# Transport: kvm-xen where KVM has no Xen support (the probe tells which kind of host this is).
if "$KXEN_SRC/tests/lab/kvm-xen-caps" >/dev/null 2>&1; then
    "$KXEN" run --transport kvm-xen --kernel "$hello" >ok.out 2>ok.err || fail "kvm-xen refused on a Xen-capable KVM"
else
    expect_error 2 '--transport kvm-xen: this host.s KVM has no Xen hypercall interception' \
        run --transport kvm-xen --kernel "$hello"
fi

# Pre-faulting: one line where KVM lacks KVM_PRE_FAULT_MEMORY (cap 236), a normal run where it has it.
if python3 -c 'import fcntl, os, sys; sys.exit(fcntl.ioctl(os.open("/dev/kvm", os.O_RDWR), 0xAE03, 236) <= 0)' 2>/dev/null; then
    "$KXEN" run --prefault-memory --kernel "$hello" >pf.out 2>pf.err || fail "--prefault-memory refused: $(cat pf.err)"
else
    expect_error 2 '--prefault-memory: this host.s KVM cannot pre-fault guest memory' \
        run --prefault-memory --kernel "$hello"
fi

# Kernel cache: a directory named by the user must be usable; the default one may silently not be.
expect_error 2 '--kernel-cache .*text\.bin/kernels: cannot create the kernel cache directory' \
    run --kernel "$hello" --kernel-cache text.bin/kernels
mkdir -p rocache && chmod 555 rocache
as=$nobody
expect_error 2 '--kernel-cache .*rocache: kernel cache directory is not writable' \
    run --kernel readable.elf --kernel-cache rocache
as=""
expect_error 2 'excludes' run --kernel "$hello" --kernel-cache d --no-kernel-cache

# Unknown flags, subcommands, values.
expect_error 2 'bogus' run --kernel "$hello" --bogus
expect_error 2 'fly' fly
expect_error 2 "--transport: 'magic' is not one of: auto, hypercall-page, kvm-xen" run --kernel "$hello" --transport magic
expect_error 2 "--on-reboot: 'later' is not one of: exit, restart" run --kernel "$hello" --on-reboot later
expect_error 2 "--evtchn-abi: '3level' is not one of: 2level, auto, fifo" run --kernel "$hello" --evtchn-abi 3level
expect_error 2 '--shutdown-timeout: Value -1 not in range' run --kernel "$hello" --shutdown-timeout -1
expect_error 2 '--vcpus 2: more than one vCPU needs the kvm-xen transport' \
    run --kernel "$hello" --vcpus 2 --transport hypercall-page
exit 0
