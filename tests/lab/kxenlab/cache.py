"""Where the lab keeps what it downloads and builds, outside the repository."""

import contextlib
import fcntl
import os
import subprocess
from pathlib import Path

from . import LabError


def cache_dir() -> Path:
    """${KXEN_CACHE:-/var/cache/kxen}/lab, created on first use."""
    root = Path(os.environ.get("KXEN_CACHE", "/var/cache/kxen")) / "lab"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LabError(f"cannot create cache {root}: {err.strerror} (set KXEN_CACHE)") from err
    return root


@contextlib.contextmanager
def locked(root: Path):
    """Serialises preparation between concurrent lab runs sharing one cache."""
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_tool(argv: list[str], cwd: Path | None = None) -> str:
    """Runs a set-up tool; its failure becomes one clear LabError line."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise LabError(f"{argv[0]} not found: run tests/lab/setup") from err
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit {done.returncode}"
        raise LabError(f"{' '.join(argv[:3])} failed: {last}")
    return done.stdout
