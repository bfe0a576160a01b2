"""Guest side of the disk (and later network) cases: initramfs images that load Debian's
xen-blkfront, xen-netfront and ext4 modules (kept by tests/fetch-kernels in
modules-<release>/ with their load order) and carry e2fsprogs, an ext4 root-filesystem image,
and an ext2 disk that GRUB (grub-xen-bin, i386-xen_pvh) boots a kernel from.

Used from Python (import next to linux_guest.py) or from shell cases:
    python3 disk_guest.py kernels                         # the 6.1 and 6.12 bzImages, one a line
    python3 disk_guest.py initramfs KERNEL INIT OUT       # INIT: the /init body ('-': stdin)
    python3 disk_guest.py rootfs KERNEL INIT OUT [--size-mib N]
    python3 disk_guest.py root-initramfs KERNEL OUT [--device xvda]
    python3 disk_guest.py grub-disk KERNEL INITRD OUT [--cmdline ...] [--size-mib N]
    python3 disk_guest.py grub-elf OUT

In the guest (after DISK_PROLOGUE): the modules are loaded, one line says
"KXEN-MODULES loaded=N failed=M" (and "KXEN-INSMOD-FAILED name.ko status S" per failure);
`mkfs.ext4`, `mkfs.ext2`, `e2fsck` are e2fsprogs' (call them by these names: busybox's sh runs
its own `mke2fs` applet before any binary of that name); `fstrim` is busybox's applet (or
util-linux's when busybox lacks it); `wait_block NAME [SECONDS]` waits for /dev/NAME."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linux_guest import (KERNEL_DIR, build_initramfs, busybox_root, debian_kernels, fail,  # noqa: E402
                         write_init)

GUEST_MODULES = "lib/modules/kxen"  # in the guest's root, with load.list
LOAD_LIST = "load.list"
# e2fsprogs' binaries and the names the guest calls them by (argv[0] picks mke2fs' fs type).
E2FSPROGS = {"mke2fs": ("mkfs.ext4", "mkfs.ext2"), "e2fsck": ("fsck.ext4",)}
CONFIGS = ["/etc/mke2fs.conf"]
SYSTEM_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"

# Shell functions and module loading that follow linux_guest's INIT_PROLOGUE.
TOOLS_PROLOGUE = r"""
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
# wait_block NAME [SECONDS]: until xen-blkfront has connected /dev/NAME (default 30 s).
wait_block() {
    n=0
    while [ ! -e "/sys/block/$1" ] || [ ! -b "/dev/$1" ]; do
        [ "$n" -ge "$((${2:-30} * 10))" ] && { echo "KXEN-NO-DISK $1"; return 1; }
        sleep 0.1
        n=$((n + 1))
    done
}
# sha FILE: its SHA-256 alone.
sha() { sha256sum "$1" | cut -d' ' -f1; }
# arg NAME: the value of kxen.NAME= on the kernel command line (empty if absent).
arg() { sed -n "s/.*kxen\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
"""
MODULES_PROLOGUE = r"""
kxen_loaded=0
kxen_failed=0
while read -r mod; do
    if insmod "/lib/modules/kxen/$mod"; then
        kxen_loaded=$((kxen_loaded + 1))
    else
        echo "KXEN-INSMOD-FAILED $mod status $?"
        kxen_failed=$((kxen_failed + 1))
    fi
done </lib/modules/kxen/load.list
echo "KXEN-MODULES loaded=$kxen_loaded failed=$kxen_failed"
"""
DISK_PROLOGUE = TOOLS_PROLOGUE + MODULES_PROLOGUE


def release_of(kernel: Path) -> str:
    return kernel.name.removeprefix("vmlinuz-")


def module_dir(kernel: Path) -> Path:
    """modules-<release>/ next to the bzImage, as tests/fetch-kernels keeps it."""
    found = kernel.parent / f"modules-{release_of(kernel)}"
    if not (found / LOAD_LIST).is_file():
        found = KERNEL_DIR / f"modules-{release_of(kernel)}"
    if not (found / LOAD_LIST).is_file():
        fail(f"no {found}/{LOAD_LIST} for {kernel.name} (run tests/fetch-kernels)")
    return found


def module_files(kernel: Path) -> list[Path]:
    """The kernel's kept modules in load order (dependencies first)."""
    mods = module_dir(kernel)
    files = [mods / name for name in (mods / LOAD_LIST).read_text().split()]
    missing = [path.name for path in files if not path.is_file()]
    if missing:
        fail(f"{mods} lacks {' '.join(missing)} (remove it and run tests/fetch-kernels)")
    return files


def add_modules(root: Path, kernel: Path) -> None:
    """The modules at /lib/modules/kxen with load.list, for the prologue's insmod loop."""
    target = root / GUEST_MODULES
    target.mkdir(parents=True, exist_ok=True)
    files = module_files(kernel)
    for path in files:
        shutil.copyfile(path, target / path.name)
    (target / LOAD_LIST).write_text("".join(f"{path.name}\n" for path in files))


def shared_libraries(binary: Path) -> list[Path]:
    """What ldd says binary loads (the dynamic loader included), as absolute paths."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        fail(f"ldd {binary} failed: {out.stderr.strip() or out.stdout.strip()}")
    libs = []
    for line in out.stdout.splitlines():
        words = line.split()
        if "=>" in words:
            after = words[words.index("=>") + 1:]
            if after and after[0].startswith("/"):
                libs.append(Path(after[0]))
            elif after and after[0] == "not":
                fail(f"{binary} needs {words[0]}, which is not found")
        elif words and words[0].startswith("/"):
            libs.append(Path(words[0]))
    return libs


def add_binary(root: Path, name: str, aliases: tuple[str, ...] = ()) -> None:
    """The system's binary at /usr/sbin/NAME (symlinked as each alias) with its libraries at
    their own paths (copied, symlinks followed)."""
    binary = Path(system_tool(name))
    target = root / "usr" / "sbin"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary, target / name)
    (target / name).chmod(0o755)
    for alias in aliases:
        (target / alias).unlink(missing_ok=True)
        (target / alias).symlink_to(name)
    for lib in shared_libraries(binary):
        dest = root / lib.relative_to("/")
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lib, dest)
            dest.chmod(0o755)


def busybox_has(applet: str) -> bool:
    out = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=False)
    return applet in out.stdout.split()


def add_disk_tools(root: Path) -> None:
    """e2fsprogs (mkfs.ext4, mkfs.ext2, e2fsck) and fstrim, with what they read in /etc."""
    for name, aliases in E2FSPROGS.items():
        add_binary(root, name, aliases)
    if not busybox_has("fstrim"):
        add_binary(root, "fstrim")
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    for config in CONFIGS:
        if Path(config).is_file():
            shutil.copyfile(config, etc / Path(config).name)
    # e2fsprogs checks whether a device is mounted through /etc/mtab.
    (etc / "mtab").unlink(missing_ok=True)
    (etc / "mtab").symlink_to("/proc/mounts")
    (root / "mnt").mkdir(exist_ok=True)


def build_disk_initramfs(workdir: Path, kernel: Path, init_body: str, tools: bool = True,
                         binaries: tuple[str, ...] = ()) -> Path:
    """workdir/initrd.gz: busybox, the kernel's kept modules (loaded in order at boot), e2fsprogs
    and fstrim (unless tools=False), the system's BINARIES with their libraries; /init =
    linux_guest's prologue + DISK_PROLOGUE + body."""
    workdir.mkdir(parents=True, exist_ok=True)

    def populate(root: Path) -> None:
        add_modules(root, kernel)
        (root / "mnt").mkdir(exist_ok=True)
        if tools:
            add_disk_tools(root)
        for name in binaries:
            add_binary(root, name)

    return build_initramfs(workdir, DISK_PROLOGUE + init_body, populate)


def system_tool(name: str) -> str:
    found = shutil.which(name, path=SYSTEM_PATH + ":" + os.environ.get("PATH", ""))
    if not found:
        fail(f"no {name} on this machine (apt-get install e2fsprogs util-linux)")
    return found


def mkfs_from_dir(fstype: str, source: Path, out: Path, size_mib: int, label: str) -> Path:
    """An ext2/ext4 image of size_mib MiB at out holding source's tree (mkfs -d), fsck-clean."""
    out.unlink(missing_ok=True)
    mkfs = subprocess.run([system_tool("mke2fs"), "-q", "-F", "-t", fstype, "-L", label, "-d", str(source),
                           "-E", "root_owner=0:0", str(out), f"{size_mib}M"],
                          capture_output=True, text=True, check=False)
    if mkfs.returncode != 0:
        fail(f"mke2fs -t {fstype} -d {source} failed: {mkfs.stderr.strip()}")
    check = subprocess.run([system_tool("e2fsck"), "-fn", str(out)], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        fail(f"e2fsck -fn {out} after mke2fs: exit {check.returncode}: {check.stdout}{check.stderr}")
    return out


def build_ext4_rootfs(workdir: Path, kernel: Path, init_body: str, out: Path, size_mib: int = 64) -> Path:
    """An ext4 image (label kxenroot) of a root for a guest whose initramfs switched to it
    (build_root_initramfs): busybox, the kernel's modules in /lib/modules/kxen (already loaded by
    then), e2fsprogs; /init = linux_guest's prologue + TOOLS_PROLOGUE + body."""
    root = workdir / "rootfs"
    busybox_root(root)
    add_modules(root, kernel)
    add_disk_tools(root)
    write_init(root, TOOLS_PROLOGUE + init_body)
    return mkfs_from_dir("ext4", root, out, size_mib, "kxenroot")


# /init of the initramfs for a root on a disk: modules, then the ext4 root on /dev/<device>.
SWITCH_ROOT_BODY = r"""
device=$(arg root)
device=${device:-%(device)s}
wait_block "$device" 30 || { echo "KXEN-ROOT-MISSING $device"; poweroff -f; }
mkdir -p /newroot
flags=$(arg rootflags)
mount -t ext4 -o "${flags:-rw}" "/dev/$device" /newroot || { echo "KXEN-ROOT-MOUNT-FAILED"; poweroff -f; }
echo "KXEN-SWITCH-ROOT $device"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /init
"""


def build_root_initramfs(workdir: Path, kernel: Path, device: str = "xvda") -> Path:
    """workdir/initrd.gz that loads the modules, mounts /dev/<device> (or kxen.root=NAME from the
    command line; options from kxen.rootflags=) as ext4 and switch_roots to its /init."""
    return build_disk_initramfs(workdir, kernel, SWITCH_ROOT_BODY % {"device": device}, tools=False)


GRUB_MODULES = ["normal", "echo", "halt", "sleep", "ext2", "part_msdos", "search",
                "search_fs_file", "configfile", "linux", "gzio", "ls", "cat"]
# Embedded in the GRUB image: find the disk holding /boot/grub/grub.cfg and read it from there.
GRUB_EARLY_CFG = """echo KXEN-GRUB-MARKER
search --no-floppy --file /boot/grub/grub.cfg --set=root
set prefix=($root)/boot/grub
"""
GRUB_CFG = """set timeout=0
echo KXEN-GRUB-CFG root=$root
linux /boot/vmlinuz %(cmdline)s
initrd /boot/initrd.gz
boot
"""


def build_grub_elf(workdir: Path, out: Path) -> Path:
    """A GRUB i386-xen_pvh ELF (grub-xen-bin) that finds /boot/grub/grub.cfg on a PV disk
    (GRUB names them (xen/<vbd>)) and runs it; without one it stops at its prompt."""
    if not shutil.which("grub-mkimage") or not Path("/usr/lib/grub/i386-xen_pvh").is_dir():
        fail("no grub-mkimage or /usr/lib/grub/i386-xen_pvh (run tests/install-deps: grub-common, grub-xen-bin)")
    workdir.mkdir(parents=True, exist_ok=True)
    early = workdir / "early.cfg"
    early.write_text(GRUB_EARLY_CFG)
    made = subprocess.run(["grub-mkimage", "-O", "i386-xen_pvh", "-o", str(out), "-p", "/boot/grub",
                           "-c", str(early), *GRUB_MODULES], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        fail(f"grub-mkimage failed: {made.stderr.strip()}")
    return out


def build_grub_disk(workdir: Path, kernel: Path, initrd: Path, out: Path, cmdline: str,
                    size_mib: int = 64) -> Path:
    """An ext2 image (label kxenboot, no partition table) with /boot/vmlinuz, /boot/initrd.gz and
    a /boot/grub/grub.cfg that boots them with cmdline at once."""
    tree = workdir / "bootfs"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "boot" / "grub").mkdir(parents=True)
    shutil.copyfile(kernel, tree / "boot" / "vmlinuz")
    shutil.copyfile(initrd, tree / "boot" / "initrd.gz")
    (tree / "boot" / "grub" / "grub.cfg").write_text(GRUB_CFG % {"cmdline": cmdline})
    return mkfs_from_dir("ext2", tree, out, size_mib, "kxenboot")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="disk_guest.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("kernels", help="the 6.1 and 6.12 bzImages")
    one = sub.add_parser("initramfs", help="busybox, modules, e2fsprogs; /init from INIT")
    one.add_argument("kernel", type=Path)
    one.add_argument("init", help="file with the /init body ('-': stdin)")
    one.add_argument("out", type=Path)
    one.add_argument("--no-tools", action="store_true", help="modules only, no e2fsprogs")
    one.add_argument("--binary", action="append", default=[], metavar="NAME",
                     help="also the system's NAME (e.g. ethtool) with its libraries (repeatable)")
    rootfs = sub.add_parser("rootfs", help="an ext4 root image with busybox, modules, e2fsprogs")
    rootfs.add_argument("kernel", type=Path)
    rootfs.add_argument("init")
    rootfs.add_argument("out", type=Path)
    rootfs.add_argument("--size-mib", type=int, default=64)
    switch = sub.add_parser("root-initramfs", help="loads the modules, switch_root to an ext4 disk")
    switch.add_argument("kernel", type=Path)
    switch.add_argument("out", type=Path)
    switch.add_argument("--device", default="xvda")
    disk = sub.add_parser("grub-disk", help="an ext2 image with grub.cfg, the kernel and initrd")
    disk.add_argument("kernel", type=Path)
    disk.add_argument("initrd", type=Path)
    disk.add_argument("out", type=Path)
    disk.add_argument("--cmdline", default="console=hvc0 loglevel=4")
    disk.add_argument("--size-mib", type=int, default=64)
    elf = sub.add_parser("grub-elf", help="a GRUB PVH image that boots /boot/grub/grub.cfg from a disk")
    elf.add_argument("out", type=Path)
    args = parser.parse_args(argv)

    if args.what == "kernels":
        print("\n".join(str(kernel) for kernel in debian_kernels()))
        return 0
    body = ""
    if getattr(args, "init", None):
        body = sys.stdin.read() if args.init == "-" else Path(args.init).read_text()
    out = args.out.resolve()
    # Trees are built in /tmp (RAM in the lab's L1, where the case's own dir is a 9p share).
    with tempfile.TemporaryDirectory(prefix="kxen-disk-guest-") as tmp:
        work = Path(tmp)
        if args.what == "initramfs":
            shutil.copyfile(build_disk_initramfs(work, args.kernel, body, tools=not args.no_tools,
                                                 binaries=tuple(args.binary)), out)
        elif args.what == "rootfs":
            build_ext4_rootfs(work, args.kernel, body, out, args.size_mib)
        elif args.what == "root-initramfs":
            shutil.copyfile(build_root_initramfs(work, args.kernel, args.device), out)
        elif args.what == "grub-disk":
            build_grub_disk(work, args.kernel, args.initrd, out, args.cmdline, args.size_mib)
        elif args.what == "grub-elf":
            build_grub_elf(work, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
