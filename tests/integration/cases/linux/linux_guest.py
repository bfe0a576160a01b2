"""Shared by the Linux cases: Debian's kernels, a busybox initramfs, and kxen runs whose
console lines are timestamped with host time as they arrive (so tests can measure guest
time against host time and act on what the guest prints)."""

import glob
import gzip
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

KXEN = os.environ.get("KXEN", "")
CACHE = Path(os.environ.get("KXEN_CACHE", "/var/cache/kxen"))
KERNEL_DIR = Path(os.environ.get("KXEN_KERNEL_DIR", CACHE / "kernels"))
CMDLINE = "console=hvc0 loglevel=4"


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def debian_kernels() -> list[Path]:
    """Debian's 6.1 and 6.12 bzImages, as tests/fetch-kernels caches them."""
    found = []
    for series in ("6.1", "6.12"):
        matches = sorted(glob.glob(str(KERNEL_DIR / f"vmlinuz-{series}.*")))
        if not matches:
            fail(f"no {series} kernel in {KERNEL_DIR} (run tests/fetch-kernels)")
        found.append(Path(matches[-1]))
    return found


# Mounts and applets every test init starts with; the case's script follows.
INIT_PROLOGUE = """#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
"""


def busybox_root(root: Path) -> None:
    """A fresh tree at root with busybox-static as /bin/busybox (its applets are linked at boot)."""
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp"):
        (root / sub).mkdir(parents=True)
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        fail("no /bin/busybox (apt-get install busybox-static)")
    shutil.copy(busybox, root / "bin" / "busybox")


def write_init(root: Path, init_body: str) -> None:
    """/init = prologue + body."""
    init = root / "init"
    init.write_text(INIT_PROLOGUE + init_body)
    init.chmod(0o755)


def pack_initramfs(root: Path, out: Path) -> Path:
    """root as a gzip'd newc cpio at out."""
    listing = subprocess.run(["find", "."], cwd=root, check=True, capture_output=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc"], cwd=root, input=listing, check=True,
                          capture_output=True).stdout
    out.write_bytes(gzip.compress(cpio, compresslevel=1))
    return out


def build_initramfs(workdir: Path, init_body: str, populate=None) -> Path:
    """A gzip'd newc cpio with busybox-static as every applet and /init = prologue + body;
    populate(root), if given, adds files to the tree before it is packed."""
    root = workdir / "root"
    busybox_root(root)
    if populate:
        populate(root)
    write_init(root, init_body)
    return pack_initramfs(root, workdir / "initrd.gz")


@dataclass
class Line:
    at: float  # host time.time() when the line arrived
    text: str


@dataclass
class Run:
    status: int | None = None
    lines: list[Line] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def find(self, prefix: str) -> list[Line]:
        return [line for line in self.lines if line.text.startswith(prefix)]

    def first(self, prefix: str) -> Line:
        found = self.find(prefix)
        if not found:
            fail(f"the guest never printed a line starting with {prefix!r}")
        return found[0]

    def value(self, key: str) -> str:
        """The text after 'KEY=' on the first line that starts with it."""
        return self.first(key + "=").text[len(key) + 1:].strip()


# The lab's L1 traces every SVM shutdown exit (tests/lab/init): its EXITINTINFO says what the
# vCPU was delivering when it triple-faulted, which KVM's reset of the vCPU hides from kxen.
SHUTDOWN_TRACE = Path("/sys/kernel/tracing/trace")


def shutdown_exits() -> list[str]:
    """The traced shutdown exits so far; none where nothing traces them."""
    try:
        return [line.strip() for line in SHUTDOWN_TRACE.read_text(errors="replace").splitlines()
                if "reason shutdown" in line]
    except OSError:
        return []


class Kxen:
    """One kxen run in the background; stdout lines are collected with arrival times."""

    def __init__(self, name: str, kernel: Path, initrd: Path, *extra: str, cmdline: str = CMDLINE,
                 console_input: bool = False):
        self.name = name
        self.run = Run(started=time.time())
        # -v: kxen says at info level where it is, so a run that hangs leaves a trail in NAME.err.
        self.args = [KXEN, "run", "-v", "--kernel", str(kernel), "--initrd", str(initrd), "--memory", "512M",
                     "--cmdline", cmdline, *extra]
        self.err = open(f"{name}.err", "wb")
        self.log = open(f"{name}.out", "w")
        self.shutdowns_before = len(shutdown_exits())
        # console_input: kxen's stdin is a pipe that send() writes to the guest's hvc0.
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE if console_input else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.err)
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for raw in self.proc.stdout:
            text = raw.decode(errors="replace").rstrip("\r\n")
            now = time.time()
            self.log.write(f"{now - self.run.started:9.3f} {text}\n")
            self.log.flush()
            with self.cond:
                self.run.lines.append(Line(now, text))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 300) -> Line:
        """Blocks until `count` lines start with prefix; fails the case on timeout or exit."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                found = self.run.find(prefix)
                if len(found) >= count:
                    return found[count - 1]
                if self.proc.poll() is not None and not self.reader.is_alive():
                    self.dump()
                    fail(f"{self.name}: kxen exited {self.proc.returncode} before {count}x {prefix!r}")
                left = deadline - time.time()
                if left <= 0:
                    self.kill()
                    self.dump()
                    fail(f"{self.name}: no {count}x {prefix!r} within {timeout} s")
                self.cond.wait(min(left, 1.0))

    def send(self, text: str) -> None:
        """Types text on the guest's console (needs console_input=True)."""
        assert self.proc.stdin
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 300) -> Run:
        try:
            self.run.status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.dump()
            fail(f"{self.name}: kxen still running after {timeout} s")
        self.reader.join(10)
        self.run.ended = time.time()
        if self.run.status != 0:  # the tails say why (a guest panic prints on hvc0)
            self.dump()
        self.err.close()
        self.log.close()
        return self.run

    def kill(self, log_state: bool = True) -> None:
        """SIGUSR1 first: kxen logs where each vCPU is, so a hung guest says where it hangs."""
        if log_state and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def dump(self) -> None:
        for path in (f"{self.name}.out", f"{self.name}.err"):
            try:
                tail = Path(path).read_text(errors="replace").splitlines()[-40:]
            except OSError:
                continue
            print(f"--- {path}:", *tail, sep="\n", file=sys.stderr)
        for line in shutdown_exits()[self.shutdowns_before:]:
            print(f"L1 KVM traced: {line}", file=sys.stderr)


FAILURES: list[str] = []


def expect(what: str, ok: bool, detail: str = "") -> None:
    """Records one check; the case goes on so one run reports every failed check."""
    line = f"{what}{' (' + detail + ')' if detail else ''}"
    if not ok:
        FAILURES.append(line)
        print(f"FAIL: {line}", file=sys.stderr)
        return
    print(f"ok: {line}")


def finish_case() -> None:
    """Exit status of the case: 1 when any expect() failed."""
    if FAILURES:
        # Again at the end: the suite shows only the tail, and run dumps may have pushed them out.
        print(f"{len(FAILURES)} check(s) failed:", *(f"FAIL: {line}" for line in FAILURES), sep="\n",
              file=sys.stderr)
        sys.exit(1)


def host_clock_report() -> None:
    """After a failed time check: this host's clocksource and what its kernel said about the
    TSC (in the lab L1's TSC decides whether KVM keeps a stable pvclock for the guest)."""
    base = Path("/sys/devices/system/clocksource/clocksource0")
    try:
        current = (base / "current_clocksource").read_text().strip()
        available = (base / "available_clocksource").read_text().strip()
    except OSError as err:
        current, available = f"unreadable ({err.strerror})", "?"
    print(f"host clocksource: {current} (available: {available})", file=sys.stderr)
    dmesg = subprocess.run(["dmesg"], capture_output=True, text=True, check=False).stdout
    for line in dmesg.splitlines():
        if any(word in line.lower() for word in ("tsc", "clocksource", "unstable")):
            print(f"host dmesg: {line}", file=sys.stderr)
