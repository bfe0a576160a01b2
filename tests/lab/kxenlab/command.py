"""What L1 runs: the command script and the share list written into the run's ctl dir."""

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from . import LabError

# Variables worth keeping from the caller; others can be added with --env.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER", "LOGNAME", "SHELL")
PASSED_PREFIXES = ("KXEN_", "LC_")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Command:
    argv: list[str]
    cwd: Path
    shares: list[Path]                  # read-write, each at its own path in L1
    extra_env: dict[str, str] = field(default_factory=dict)
    pin_cpu: int | None = None          # run the command (and its children) on this L1 CPU only
    # Shares L1 mounts without a page cache: files written and read there at once (logs).
    uncached: list[Path] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k in PASSED_ENV or k.startswith(PASSED_PREFIXES)}
        env.setdefault("PATH", DEFAULT_PATH)
        env["KXEN_IN_LAB"] = "1"
        # L1's home is the host's, read-only: kxen's kernel cache goes to L1's tmpfs instead, so
        # a kernel booted again in the same L1 skips decompressing its bzImage under emulation.
        env["XDG_CACHE_HOME"] = "/tmp/kxen-lab-xdg-cache"
        env.update(self.extra_env)
        return env

    def script(self) -> str:
        """Run by L0's /bin/sh inside the chroot; stdin is the script, so the command
        gets /dev/null; env -i gives it exactly environment()."""
        assigns = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(self.environment().items()))
        argv = " ".join(shlex.quote(a) for a in self.argv)
        cwd = shlex.quote(str(self.cwd))
        pin = f"taskset -c {self.pin_cpu} " if self.pin_cpu is not None else ""
        return (f"cd {cwd} || {{ echo 'lab: cannot enter {cwd} in L1 "
                f"(not shared? /tmp is a tmpfs there)' >&2; exit 127; }}\n"
                f"exec env -i {assigns} {pin}{argv} </dev/null\n")

    def mounts(self) -> str:
        """A "tag cache path" line per share. 9p cache=mmap keeps binaries cached across execs;
        a file read while L1 appends to it got NUL holes there, so `uncached` shares get none."""
        lines = []
        for index, path in enumerate(self.shares):
            if "\n" in str(path) or not path.is_absolute():
                raise LabError(f"cannot share {path!r}")
            cache = "none" if path in self.uncached else "mmap"
            lines.append(f"work{index} {cache} {path}\n")
        return "".join(lines)

    def write(self, ctl: Path) -> None:
        (ctl / "cmd.sh").write_text(self.script())
        (ctl / "mounts").write_text(self.mounts())


def normalise_shares(paths: list[Path], separate: list[Path] = ()) -> list[Path]:
    """Absolute, existing, de-duplicated, and no share nested in another (one mount each),
    except the `separate` ones: a share with its own cache mode is mounted over its parent's,
    so it comes after it."""
    keep = {p.resolve() for p in separate}
    result: list[Path] = []
    for path in sorted({p.resolve() for p in paths}, key=lambda p: len(p.parts)):
        if not path.is_dir():
            raise LabError(f"--work {path}: not a directory")
        if path == Path("/"):
            raise LabError("--work /: the host root is already shared read-only")
        if path in keep or not any(path.is_relative_to(parent) for parent in result):
            result.append(path)
    return result


# Mounted afresh in L1, so L0's files there are not visible unless shared.
HIDDEN_IN_L1 = (Path("/tmp"), Path("/run"), Path("/dev"), Path("/proc"), Path("/sys"))


def check_visible(cwd: Path, shares: list[Path]) -> None:
    """Fails before booting when the command's directory would not exist in L1."""
    if any(cwd.is_relative_to(share) for share in shares):
        return
    hidden = next((top for top in HIDDEN_IN_L1 if cwd.is_relative_to(top)), None)
    if hidden is not None:
        raise LabError(f"the current directory {cwd} is not visible in L1 ({hidden} is "
                       f"mounted afresh there): share it with --work")


def default_share(cwd: Path) -> Path:
    """The repository holding cwd (its build dirs included), else cwd itself."""
    for candidate in [cwd, *cwd.parents]:
        if (candidate / ".git").exists():
            return candidate
    return cwd
