"""The QEMU that emulates L1: Debian's bookworm-backports build, unpacked into the cache.

Debian 12's QEMU 7.2 TCG loses L1's interrupts in some loops (an interrupt shadow that does
not end its translation block; fixed upstream in 8.2): L1 CPUs then stall for minutes and
the L2 guests on them hang (tests/lab/README.md). The system's QEMU 7.2 stays installed
and is what the boot-time benchmark runs inside L1; only L1 itself runs on this one.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import LabError
from .cache import apt_resolved, run_tool
from .kernel import fetch_deb

SUITE = "bookworm-backports"
PACKAGES = ("qemu-system-x86", "qemu-system-common", "qemu-system-data")
# QEMU's own firmware directory lacks the SeaBIOS images it links to; the seabios package has them.
SEABIOS_DIR = Path("/usr/share/seabios")


@dataclass(frozen=True)
class LabQemu:
    root: Path  # the unpacked packages

    @property
    def binary(self) -> Path:
        return self.root / "usr" / "bin" / "qemu-system-x86_64"

    @property
    def firmware_dirs(self) -> tuple[Path, ...]:
        return (self.root / "usr" / "share" / "qemu", SEABIOS_DIR)


def suite_version(package: str) -> tuple[str, str]:
    """(version, sha256) of package in SUITE, from apt's lists."""
    for line in run_tool(["apt-cache", "madison", package]).splitlines():
        fields = [field.strip() for field in line.split("|")]
        if len(fields) == 3 and f" {SUITE}/" in f" {fields[2]}" and fields[2].endswith("Packages"):
            version = fields[1]
            stanza = run_tool(["apt-cache", "show", f"{package}={version}"]).split("\n\n")[0]
            sha256 = next((line.split(": ", 1)[1] for line in stanza.splitlines()
                           if line.startswith("SHA256: ")), "")
            if not sha256:
                raise LabError(f"apt-cache show {package}={version} gave no SHA256")
            return version, sha256
    raise LabError(f"apt knows no {package} in {SUITE}: run tests/lab/setup")


def prepare_qemu(cache: Path) -> LabQemu:
    """Downloads and unpacks the packages once per version; atomic via rename."""
    versions = apt_resolved(cache, "qemu-resolved.json",
                            lambda: {package: suite_version(package) for package in PACKAGES})
    version = versions[PACKAGES[0]][0]
    target = cache / "qemu" / version.replace(":", "_").replace("~", "_")
    qemu = LabQemu(target)
    if not qemu.binary.is_file():
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for package, (package_version, sha256) in versions.items():
            deb = fetch_deb(cache, package, sha256, spec=f"{package}={package_version}")
            run_tool(["dpkg-deb", "-x", str(deb), str(staging)])
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
    if not qemu.binary.is_file():
        raise LabError(f"{PACKAGES[0]} {version} has no {qemu.binary.name}")
    if not (SEABIOS_DIR / "bios-256k.bin").is_file():
        raise LabError(f"no {SEABIOS_DIR}/bios-256k.bin: run tests/lab/setup (installs seabios)")
    return qemu
