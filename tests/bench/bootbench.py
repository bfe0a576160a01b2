"""One timed boot: start a VMM, stream the guest console, stop at the init marker (or at a
later line the guest prints after its workload).

Used by tests/bench/boot-time and tests/bench/evtchn-abi. Times are wall-clock seconds from
just before the VMM's exec, read with time.monotonic() as the console bytes arrive on a pipe.
"""

import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]
MARKER_LINE = re.compile(rb"KXEN-BENCH-MARKER uptime=([0-9.]+)\r?\n")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DUMP_WAIT_S = 3.0  # for the VMM's own report after dump_signal

# /init: the least a boot needs to prove it reached user space, plus the guest's own
# uptime (time since its kernel started counting) so host-side cost can be told apart.
INIT = """#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
read up idle </proc/uptime
echo "KXEN-BENCH-MARKER uptime=$up"
/bin/busybox poweroff -f
"""


@dataclass
class Boot:
    kernel: str
    vmm: str
    iteration: int
    ok: bool
    marker_s: float | None = None        # exec -> the marker line on the console
    first_output_s: float | None = None  # exec -> the first console byte
    guest_uptime_s: float | None = None  # the guest's /proc/uptime when it printed it
    cpu_s: float | None = None           # the VMM's user+system CPU until the marker
    setup_s: float | None = None         # exec -> the VMM's "about to run the guest" log line
    end_s: float | None = None           # with `until`: exec -> that end line
    end_cpu_s: float | None = None       # the VMM's user+system CPU until the end line
    threads_cpu: dict | None = None      # with `until`: CPU seconds per thread name at the end line
    error: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def build_initramfs(work: Path, init: str = INIT) -> Path:
    """An uncompressed newc cpio: static busybox and `init` (the same bytes for every VMM)."""
    root = work / "root"
    for sub in ("bin", "proc", "dev"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, root / "bin" / "busybox")
    (root / "init").write_text(init)
    (root / "init").chmod(0o755)
    image = work / "initramfs.cpio"
    names = "\n".join(["."] + sorted(str(p.relative_to(root)) for p in root.rglob("*")))
    with open(image, "wb") as out:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=names.encode(),
                       stdout=out, check=True)
    return image


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of the whole process (all threads), from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """utime + stime per thread of the process, summed by thread name (comm), from
    /proc/PID/task/*/stat: which of the VMM's threads (vCPUs, I/O) spent the CPU."""
    per: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name, rest = (task / "stat").read_text().split("(", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        per[name] = per.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return per


def stop(child: subprocess.Popen) -> None:
    """SIGKILL its process group once the marker is in (nothing left to measure, and a
    SIGTERM would make kxen wait for a guest power-off); waits, so runs never overlap."""
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


class Streams:
    """The VMM's stdout (the guest console) and stderr, read as they arrive."""

    def __init__(self, child: subprocess.Popen):
        self.console_fd = child.stdout.fileno()
        self.open_fds = {self.console_fd, child.stderr.fileno()}

    def read(self, timeout_s: float) -> list[tuple[int, bytes]]:
        """(fd, bytes) for each stream that had something; a stream at its end is closed."""
        ready, _, _ = select.select(sorted(self.open_fds), [], [], timeout_s)
        got = []
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                got.append((fd, chunk))
            else:
                self.open_fds.discard(fd)
        return got

    def open(self) -> bool:
        return bool(self.open_fds)


def timed_boot(argv: list[str], boot: Boot, timeout_s: float, log: Path,
               setup_line: bytes | None = None, until: re.Pattern | None = None,
               dump_signal: int | None = None) -> Boot:
    """Runs argv until the marker is on its console (its stdout), or with `until` until that
    later line is, then kills it. The console goes to LOG, stderr to LOG.err; setup_line: a
    stderr text that marks the end of the VMM's own set-up (boot.setup_s); dump_signal: sent
    to a VMM that ran out of time, whose stderr then says where it hung (kxen: SIGUSR1)."""
    start = time.monotonic()
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    streams, console, errors = Streams(child), b"", b""
    try:
        while boot.error == "" and not boot.ok:
            left = timeout_s - (time.monotonic() - start)
            awaited = "the marker" if boot.marker_s is None else "the end line"
            if left <= 0:
                boot.error = f"no {awaited.removeprefix('the ')} after {timeout_s:g} s"
            elif not streams.open():
                boot.error = f"exited with status {child.wait()} before {awaited}"
            for fd, chunk in streams.read(max(left, 0)) if boot.error == "" else []:
                now = time.monotonic() - start
                if fd != streams.console_fd:
                    errors += chunk
                    if setup_line and boot.setup_s is None and setup_line in errors:
                        boot.setup_s = now
                    continue
                if not console:
                    boot.first_output_s = now
                console += chunk
                found = MARKER_LINE.search(console) if boot.marker_s is None else None
                if found:
                    boot.cpu_s = cpu_seconds(child.pid)
                    boot.marker_s = now
                    boot.guest_uptime_s = float(found.group(1))
                boot.ok = boot.marker_s is not None and (until is None or bool(until.search(console)))
                if boot.ok and until is not None:
                    boot.end_s, boot.end_cpu_s = now, cpu_seconds(child.pid)
                    boot.threads_cpu = thread_cpu_seconds(child.pid)
        if dump_signal is not None and child.poll() is None and not boot.ok:
            child.send_signal(dump_signal)
            deadline = time.monotonic() + DUMP_WAIT_S
            while streams.open() and time.monotonic() < deadline:
                errors += b"".join(chunk for fd, chunk in streams.read(0.2) if fd != streams.console_fd)
    finally:
        stop(child)
        log.write_bytes(console)
        log.with_suffix(".err").write_bytes(errors)
    return boot


@dataclass
class Summary:
    """Over the boots that reached the marker; times in seconds, medians unless min."""
    n: int
    median_s: float | None
    min_s: float | None
    guest_uptime_median_s: float | None
    before_kernel_median_s: float | None   # marker - guest uptime: VMM, firmware, unpacking
    setup_median_s: float | None
    first_output_median_s: float | None
    cpu_median_s: float | None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(boots: list[Boot]) -> Summary:
    good = [b for b in boots if b.ok]
    marks = [b.marker_s for b in good]
    return Summary(len(good), _median(marks), min(marks) if marks else None,
                   _median([b.guest_uptime_s for b in good]),
                   _median([b.marker_s - b.guest_uptime_s for b in good]),
                   _median([b.setup_s for b in good]),
                   _median([b.first_output_s for b in good]),
                   _median([b.cpu_s for b in good]))


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def short(kernel: Path) -> str:
    """vmlinuz-6.12.117+deb12-amd64 -> 6.12.117+deb12-amd64"""
    return kernel.name.removeprefix("vmlinuz-")


def tail(log: Path) -> str:
    text = log.read_bytes() + log.with_suffix(".err").read_bytes()
    lines = text.decode(errors="replace").strip().splitlines()
    return " | ".join(lines[-3:]) or "no output"


def lab_has_xen() -> bool:
    probe = SRC / "tests" / "lab" / "kvm-xen-caps"
    return subprocess.run([sys.executable, str(probe), "-q"], check=False).returncode == 0


def run_in_lab(script: Path, inner_args: list[str], budget_s: float, shares: list[Path],
               pin_cpu: int | None = None) -> int:
    """`script --direct inner_args` inside L1, sharing the repository and `shares`; pin_cpu:
    everything it starts runs on that L1 CPU only (tests/lab/run --pin-cpu)."""
    lab = [str(SRC / "tests" / "lab" / "run"), "--timeout", f"{budget_s:g}"]
    if pin_cpu is not None:
        lab += ["--pin-cpu", str(pin_cpu)]
    for share in [SRC, *shares]:
        lab += ["--work", str(share)]
    inner = [sys.executable, str(script), "--direct", *inner_args]
    return subprocess.run(lab + ["--", *inner], cwd=SRC, check=False).returncode
