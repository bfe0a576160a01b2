"""Where the lab keeps what it downloads and builds, outside the repository."""

import contextlib
import fcntl
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable

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


def apt_resolved(cache: Path, name: str, resolve: Callable[[], Any]) -> Any:
    """resolve(), redone only after apt's lists change (each apt-cache call takes ~1 s);
    the JSON-able answer is kept in cache/NAME."""
    stamp = cache / name
    lists = Path("/var/lib/apt/lists")
    lists_mtime = lists.stat().st_mtime if lists.exists() else 0.0
    try:
        saved = json.loads(stamp.read_text())
        if saved["lists_mtime"] == lists_mtime:
            return saved["answer"]
    except (OSError, ValueError, KeyError):
        pass
    answer = resolve()
    stamp.write_text(json.dumps({"lists_mtime": lists_mtime, "answer": answer}))
    return answer
