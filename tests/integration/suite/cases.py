"""Test cases: executable files under tests/integration/cases/, with header lines.

A case is any executable file below cases/ (its name: the path without the suffix,
e.g. "lab-probe"). Header lines among its first 20 lines declare:
    # needs: kvm-xen     KVM with Xen support (INTERCEPT_HCALL + EVTCHN_SEND): run in
                         the lab unless the host has it.
    # needs: kvm         any KVM: run on the host, or in the lab where the host has no
                         /dev/kvm. Neither: run on the host.
    # timeout: 60        seconds before the case is killed (default 120)
Exit status 0 = pass, anything else = fail.
"""

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT = 120.0
KNOWN_NEEDS = {"kvm-xen", "kvm"}
HEADER = re.compile(r"^#\s*(needs|timeout)\s*:\s*(\S.*?)\s*$")


class CaseError(Exception):
    """A malformed case file: reported as that case's failure."""


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    needs: frozenset[str]
    timeout: float
    error: str | None = None  # a malformed header: the case fails without running

    @property
    def needs_kvm_xen(self) -> bool:
        return "kvm-xen" in self.needs

    @property
    def needs_kvm(self) -> bool:
        return bool(self.needs & {"kvm", "kvm-xen"})


def parse_header(path: Path) -> tuple[frozenset[str], float]:
    needs: set[str] = set()
    timeout = DEFAULT_TIMEOUT
    with open(path, errors="replace") as handle:
        for _, line in zip(range(20), handle):
            match = HEADER.match(line)
            if not match:
                continue
            key, value = match.groups()
            if key == "needs":
                needs.update(value.replace(",", " ").split())
            else:
                timeout = _parse_timeout(path, value)
    unknown = needs - KNOWN_NEEDS
    if unknown:
        raise CaseError(f"{path.name}: unknown needs: {' '.join(sorted(unknown))}")
    return frozenset(needs), timeout


def _parse_timeout(path: Path, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise CaseError(f"{path.name}: bad timeout {value!r}") from None
    if not 0 < seconds <= 3600:
        raise CaseError(f"{path.name}: timeout must be in (0, 3600]")
    return seconds


def discover(cases_dir: Path, globs: list[str]) -> list[Case]:
    """Every case whose name matches one of globs (all when globs is empty), sorted."""
    found = []
    for path in sorted(cases_dir.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or not os.access(path, os.X_OK):
            continue
        name = str(path.relative_to(cases_dir).with_suffix(""))
        if globs and not any(fnmatch.fnmatchcase(name, glob) for glob in globs):
            continue
        try:
            needs, timeout = parse_header(path)
            found.append(Case(name, path, needs, timeout))
        except CaseError as err:
            found.append(Case(name, path, frozenset(), DEFAULT_TIMEOUT, str(err)))
    return found
