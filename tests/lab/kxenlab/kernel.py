"""The L1 kernel: resolved by name from apt, downloaded once, verified, unpacked."""

import hashlib
import lzma
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import LabError
from .cache import apt_resolved, run_tool

# Debian's 6.1 kernel lacks CONFIG_KVM_XEN; the 6.12 backport has it (LAB.md).
META_PACKAGE = "linux-image-6.12-amd64"

# What L1 loads (LAB.md): KVM on AMD, the 9p share, tun/bridge for network tests, and vhost_net
# for tests/bench/net's QEMU vhost=on opponent. Dependencies (irqbypass, ccp, netfs, llc, stp,
# vhost, vhost_iotlb, tap...) are found from each module's modinfo.
REQUIRED_MODULES = ["kvm_amd", "9pnet_virtio", "9p", "tun", "bridge", "vhost_net"]


@dataclass(frozen=True)
class Kernel:
    package: str
    version: str  # the kernel release, e.g. 6.12.117+deb12-amd64
    root: Path    # the unpacked package

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.version}"

    @property
    def modules_dir(self) -> Path:
        return self.root / "lib" / "modules" / self.version


def resolve_package() -> tuple[str, str, str]:
    """(package, version, sha256) of the real image the meta package depends on."""
    deps = run_tool(["apt-cache", "depends", META_PACKAGE])
    names = [line.split(":", 1)[1].strip() for line in deps.splitlines()
             if line.strip().startswith("Depends:") and "linux-image-" in line]
    if not names:
        raise LabError(f"apt-cache knows no {META_PACKAGE}: run apt-get update (tests/lab/setup)")
    package = names[0]
    fields = _candidate_fields(package)
    if "Version" not in fields or "SHA256" not in fields:
        raise LabError(f"apt-cache show {package} gave no version/SHA256")
    return package, fields["Version"], fields["SHA256"]


def _candidate_fields(package: str) -> dict[str, str]:
    """The apt-cache show stanza of the version apt would install."""
    policy = run_tool(["apt-cache", "policy", package])
    candidate = next((line.split(":", 1)[1].strip() for line in policy.splitlines()
                      if line.strip().startswith("Candidate:")), "")
    if not candidate or candidate == "(none)":
        raise LabError(f"no installable candidate for {package}")
    stanza = run_tool(["apt-cache", "show", f"{package}={candidate}"]).split("\n\n")[0]
    return dict(line.split(": ", 1) for line in stanza.splitlines()
                if ": " in line and not line.startswith(" "))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_deb(cache: Path, package: str, sha256: str, spec: str | None = None) -> Path:
    """The verified .deb in the cache, downloaded with apt-get download if absent (spec:
    what to download, e.g. package=version; the candidate by default)."""
    debs = cache / "debs"
    debs.mkdir(exist_ok=True)
    for deb in debs.glob(f"{package}_*.deb"):
        if sha256_of(deb) == sha256:
            return deb
        deb.unlink()  # a stale or truncated download: fetch again
    print(f"lab: downloading {package} (once, into {debs})", flush=True)
    run_tool(["apt-get", "download", spec or package], cwd=debs)
    for deb in debs.glob(f"{package}_*.deb"):
        if sha256_of(deb) == sha256:
            run_tool(["dpkg-deb", "--info", str(deb)])
            return deb
    raise LabError(f"downloaded {package} does not match apt's SHA256")


def unpack(cache: Path, deb: Path, package: str) -> Kernel:
    """Unpacks the .deb once into cache/kernels/<package>; atomic via rename."""
    target = cache / "kernels" / package
    version = package.removeprefix("linux-image-")
    if not (target / "boot" / f"vmlinuz-{version}").is_file():
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        run_tool(["dpkg-deb", "-x", str(deb), str(staging)])
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
    kernel = Kernel(package, version, target)
    if not kernel.vmlinuz.is_file():
        raise LabError(f"{package} has no {kernel.vmlinuz.name}")
    return kernel


def prepare_kernel(cache: Path) -> Kernel:
    package, _version, sha256 = apt_resolved(cache, "resolved.json", resolve_package)
    return unpack(cache, fetch_deb(cache, package, sha256), package)


def module_index(kernel: Kernel) -> dict[str, Path]:
    """Module name (dashes as underscores) -> its .ko or .ko.xz file."""
    index = {}
    for path in (kernel.modules_dir / "kernel").rglob("*.ko*"):
        name = path.name.split(".ko")[0].replace("-", "_")
        index[name] = path
    return index


def module_bytes(path: Path) -> bytes:
    """The plain .ko: busybox insmod cannot read compressed modules."""
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith(".xz") else data


def module_depends(image: bytes) -> list[str]:
    """The depends= entry of a module's .modinfo section."""
    marker = b"\0depends="
    start = image.find(marker)
    if start < 0:
        return []
    start += len(marker)
    value = image[start:image.index(b"\0", start)].decode()
    return [name.replace("-", "_") for name in value.split(",") if name]


def load_order(kernel: Kernel, wanted: list[str]) -> list[tuple[str, bytes]]:
    """(name, plain .ko) for wanted modules and their dependencies, dependencies first."""
    index = module_index(kernel)
    order: list[tuple[str, bytes]] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in chain or name not in index:
            raise LabError(f"module {name} missing from {kernel.package}" if name not in index
                           else f"module dependency cycle at {name}")
        image = module_bytes(index[name])
        for dep in module_depends(image):
            visit(dep, chain + (name,))
        seen.add(name)
        order.append((name, image))

    for name in wanted:
        visit(name, ())
    return order
