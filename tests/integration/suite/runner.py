"""Runs one case as a child process: its environment, its timeout, its verdict."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .cases import Case

SHOWN_LINES = 60  # of a failing case's output


@dataclass(frozen=True)
class Paths:
    src: Path      # the source tree (KXEN_SRC)
    build: Path    # the build dir (KXEN_BUILD); KXEN is its kxen binary
    scratch: Path  # each case gets an empty subdir (KXEN_SCRATCH)
    cases: Path    # the folder the cases come from


@dataclass
class Result:
    name: str
    passed: bool
    seconds: float
    reason: str = ""
    output: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def case_env(case: Case, paths: Paths, scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(KXEN=str(paths.build / "kxen"), KXEN_BUILD=str(paths.build),
               KXEN_SRC=str(paths.src), KXEN_SCRATCH=str(scratch), KXEN_CASE=case.name)
    return env


def run_case(case: Case, paths: Paths) -> Result:
    if case.error:
        return Result(case.name, False, 0.0, f"bad case file: {case.error}")
    scratch = paths.scratch / re.sub(r"[^A-Za-z0-9_.-]", "_", case.name)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    log = scratch.with_name(scratch.name + ".log")
    started = time.monotonic()
    with open(log, "wb") as out:
        try:
            child = subprocess.Popen([str(case.path)], cwd=scratch,
                                     env=case_env(case, paths, scratch), stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as err:  # e.g. a shebang naming a missing interpreter
            return Result(case.name, False, 0.0, f"cannot start: {err.strerror}")
        reason = _wait(child, case.timeout)
    seconds = time.monotonic() - started
    output = log.read_text(errors="replace")
    return Result(case.name, not reason, seconds, reason, output)


def _wait(child: subprocess.Popen, timeout: float) -> str:
    """"" on exit 0, else why it failed; kills the case's whole process group."""
    try:
        status = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        child.wait()
        return f"timeout after {timeout:g} s"
    except BaseException:  # the harness itself is being stopped
        _kill_group(child)
        raise
    _kill_group(child)  # what the case left running in the background
    if status < 0:
        return f"killed by signal {-status}"
    return "" if status == 0 else f"exit {status}"


def _kill_group(child: subprocess.Popen) -> None:
    """SIGTERM first, so a case's tests/lab/run can stop its QEMU; SIGKILL after 5 s."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
        for _ in range(50):
            time.sleep(0.1)
            child.poll()  # reaps the case itself: a zombie would keep the group alive
            os.killpg(child.pid, 0)
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def report(result: Result, verbose: bool = False) -> None:
    """One line per case; the output too when it failed (or with -v)."""
    if result.passed:
        print(f"PASS {result.name} ({result.seconds:.1f} s)")
    else:
        print(f"FAIL {result.name}: {result.reason} ({result.seconds:.1f} s)")
    if result.output and (verbose or not result.passed):
        lines = result.output.rstrip("\n").splitlines()
        if len(lines) > SHOWN_LINES and not verbose:
            print(f"    ... {len(lines) - SHOWN_LINES} earlier lines omitted")
            lines = lines[-SHOWN_LINES:]
        print("\n".join(f"    | {line}" for line in lines))
    sys.stdout.flush()
