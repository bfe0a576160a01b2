"""The L1 initramfs: busybox, tests/lab/init, kvm-keeper and plain modules, rebuilt when inputs change."""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import LabError
from . import kernel as kernel_module
from .elf import PT_INTERP, program_headers
from .kernel import REQUIRED_MODULES, Kernel, load_order

LAB_DIR = Path(__file__).resolve().parent.parent
INIT_SCRIPT = LAB_DIR / "init"
KVM_KEEPER = LAB_DIR / "kvm-keeper"  # started by init, runs with the host root's python3
BUSYBOX_CANDIDATES = [Path("/bin/busybox"), Path("/usr/bin/busybox")]


def is_static(path: Path) -> bool:
    """A 64-bit ELF without PT_INTERP: runs with no libc in the image."""
    segments = program_headers(path.read_bytes())
    return segments is not None and all(seg.kind != PT_INTERP for seg in segments)


def find_busybox() -> Path:
    for path in BUSYBOX_CANDIDATES:
        if path.is_file() and is_static(path):
            return path
    raise LabError("no static busybox: run tests/lab/setup (busybox-static)")


def inputs_key(kernel: Kernel, busybox: Path) -> str:
    """Hash of everything that goes into the image."""
    digest = hashlib.sha256()
    digest.update(INIT_SCRIPT.read_bytes())
    digest.update(KVM_KEEPER.read_bytes())
    digest.update(busybox.read_bytes())
    digest.update(kernel.package.encode())
    digest.update(",".join(REQUIRED_MODULES).encode())
    digest.update(Path(__file__).read_bytes())  # the layout written below
    digest.update(Path(kernel_module.__file__).read_bytes())  # module order
    return digest.hexdigest()[:16]


def write_tree(root: Path, kernel: Kernel, busybox: Path) -> None:
    for sub in ("bin", "dev", "proc", "sys", "etc", "lib/modules", "ctl", "host"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    shutil.copy2(INIT_SCRIPT, root / "init")
    os.chmod(root / "init", 0o755)
    shutil.copy2(KVM_KEEPER, root / "kvm-keeper")
    names = []
    for name, image in load_order(kernel, REQUIRED_MODULES):
        (root / "lib" / "modules" / f"{name}.ko").write_bytes(image)
        names.append(name)
    (root / "etc" / "lab-modules").write_text("\n".join(names) + "\n")


def pack(root: Path, target: Path) -> None:
    """newc cpio of root, uncompressed: TCG decompresses slowly, QEMU loads it for free."""
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    with open(target, "wb") as out:
        done = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "--reproducible"],
                              cwd=root, input="\n".join(files).encode(), stdout=out,
                              stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise LabError(f"cpio failed: {done.stderr.decode().strip()}")


def prepare_initramfs(cache: Path, kernel: Kernel) -> Path:
    """The image for these inputs, built once; older images are removed."""
    busybox = find_busybox()
    target = cache / f"initrd-{inputs_key(kernel, busybox)}.cpio"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(dir=cache) as staging:
        write_tree(Path(staging) / "root", kernel, busybox)
        partial = Path(staging) / "image.cpio"
        pack(Path(staging) / "root", partial)
        os.rename(partial, target)
    for old in cache.glob("initrd-*.cpio"):
        if old != target:
            old.unlink()
    return target
