"""Runs a batch of cases inside one L1 boot: run-suite --inner, via tests/lab/run."""

import json
import os
import subprocess
import sys
from pathlib import Path

from .cases import Case
from .runner import Paths, Result

LAB_SLACK_S = 120.0        # per batch, beyond the cases' own timeouts
LAB_FAILED_EXIT = 125      # tests/lab/run's "lab: L1 failed"
LAB_TIMEOUT_EXIT = 124
LAB_CPU = 1                # tests/lab/run --pin-cpu: L1 has CPUs 0 and 1


def host_has_kvm() -> bool:
    """This machine has a KVM device to open ($KXEN_SUITE_KVM: another path, for the harness test)."""
    try:
        os.close(os.open(os.environ.get("KXEN_SUITE_KVM") or "/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
    except OSError:
        return False
    return True


def host_has_kvm_xen(src: Path) -> bool:
    """The probe, on this machine's own /dev/kvm."""
    probe = src / "tests" / "lab" / "kvm-xen-caps"
    return subprocess.run([sys.executable, str(probe), "-q"], check=False).returncode == 0


def lab_argv(cases: list[Case], paths: Paths, results: Path, verbose: bool) -> list[str]:
    budget = sum(case.timeout for case in cases) + LAB_SLACK_S
    inner = [sys.executable, str(paths.src / "tests" / "integration" / "run-suite"), "--inner",
             "--build", str(paths.build), "--scratch", str(paths.scratch),
             "--results", str(results), "--cases", str(paths.cases)]
    inner += ["-v"] if verbose else []
    for case in cases:
        inner += ["--case", case.name]
    shares = []
    for path in (paths.src, paths.build):
        shares += ["--work", str(path)] if path.is_dir() else []
    # As the lab's scratch it is mounted uncached: the cases poll logs there as kxen writes them.
    shares += ["--scratch", str(paths.scratch)]
    # $KXEN_LAB_RUN: another runner with tests/lab/run's interface (the harness test's fake lab).
    runner = os.environ.get("KXEN_LAB_RUN") or str(paths.src / "tests" / "lab" / "run")
    # L1 sees $HOME read-only: kxen's kernel cache goes in the shared build dir instead, so
    # only the first boot of each kernel per build unpacks its bzImage under TCG.
    cache_env = ["--env", f"XDG_CACHE_HOME={paths.build / 'cache'}"] if paths.build.is_dir() else []
    # One L1 CPU for every case: the emulated L1 corrupts guests (and itself) when two L2 vCPUs
    # run on two L1 CPUs at once (tests/lab/README.md); SMP guests still get all their vCPUs.
    return [runner, "--timeout", f"{budget:g}", "--pin-cpu", str(LAB_CPU),
            *shares, *cache_env, "--", *inner]


def run_in_lab(cases: list[Case], paths: Paths, verbose: bool) -> tuple[list[Result], str, bool]:
    """The results the inner run wrote, why the lab failed ("" if it did not), and whether
    L1 died after the cases had started (a setup or boot failure is not that).

    The inner run prints its PASS/FAIL lines itself, streamed through the lab."""
    results_file = paths.scratch / "lab-results.json"
    results_file.unlink(missing_ok=True)
    print(f"lab: running {len(cases)} case(s) in L1", flush=True)
    status = _run_lab(lab_argv(cases, paths, results_file, verbose), paths.scratch)
    started = results_file.exists()
    results = _load(results_file)
    if status == LAB_FAILED_EXIT:
        return results, "lab: L1 failed (see above)", started
    if status == LAB_TIMEOUT_EXIT:
        return results, "lab: the batch ran out of time", False
    if len(results) < len(cases):
        return results, f"lab: the inner run stopped early (exit {status})", False
    return results, "", False


def _run_lab(argv: list[str], cwd: Path) -> int:
    """tests/lab/run's status; if the harness is stopped, SIGTERM lets it stop QEMU."""
    child = subprocess.Popen(argv, cwd=cwd)
    try:
        return child.wait()
    except BaseException:
        child.terminate()
        child.wait()
        raise


def _load(path: Path) -> list[Result]:
    try:
        return [Result(**item) for item in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def save(path: Path, results: list[Result]) -> None:
    """Rewritten after each case, so a dying L1 still leaves what finished."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps([r.to_json() for r in results]))
    partial.replace(path)
