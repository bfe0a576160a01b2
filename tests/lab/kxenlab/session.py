"""One lab run: start QEMU with L1, stream the command's output, return its status."""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import LabError
from .command import Command

EXIT_TIMEOUT = 124     # the command ran past --timeout
EXIT_L1_FAILED = 125   # the lab itself failed (set-up, QEMU, L1 kernel or init)
MARK = b"kxen-lab: "   # written by tests/lab/init on ttyS0
POLL_S = 0.05
PR_SET_PDEATHSIG = 1   # <linux/prctl.h>
HARMLESS = "TCG doesn't support requested feature"  # QEMU's warnings for EPYC-Rome


@dataclass
class Failure:
    """Why a run ended with EXIT_L1_FAILED."""
    why: str
    command_started: bool   # init had started (or was about to start) the command
    retryable: bool         # before the command, and another boot may well succeed
    tails: list[str]        # the last console and QEMU lines, ready to print

    def report(self, headline: str) -> None:
        print(headline, file=sys.stderr)
        print("\n".join(self.tails), file=sys.stderr, flush=True)


@dataclass
class Options:
    vcpus: int = 2
    memory: str = "4G"
    timeout: float | None = None   # seconds for the command, from "ready"
    boot_timeout: float = 300.0    # seconds from QEMU start to "ready"
    verbose: bool = False          # echo L1's console to stderr
    qemu: Path = Path("qemu-system-x86_64")  # tests/lab/run passes the lab's (kxenlab.qemu)
    firmware_dirs: tuple[Path, ...] = ()     # QEMU's -L directories


class Follower:
    """Copies what QEMU appends to a chardev file to a sink, as it arrives."""

    def __init__(self, path: Path, sink: BinaryIO | None):
        path.touch()
        self.handle = open(path, "rb")
        self.sink = sink

    def pump(self) -> bytes:
        data = self.handle.read()
        if data and self.sink is not None:
            try:
                self.sink.write(data)
                self.sink.flush()
            except BrokenPipeError:  # e.g. "| head": the command still runs to its end
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.sink.fileno())
                self.sink = None
        return data or b""


def opt_path(path: Path) -> str:
    """A path inside a QEMU option list, where a comma must be doubled."""
    return str(path).replace(",", ",,")


def qemu_argv(kernel: Path, initrd: Path, run: Path, shares: list[Path],
              opts: Options) -> list[str]:
    """LAB.md's command, with the command's output on two virtio-serial ports."""
    p9 = "security_model=none,multidevs=remap"
    run = Path(opt_path(run))
    # Multi-threaded TCG, whose L1 breaks about once a run (run-suite re-runs the cases then);
    # thread=single broke kxen's 4-vCPU guests far more often (see tests/lab/README.md).
    firmware = [arg for directory in opts.firmware_dirs for arg in ("-L", str(directory))]
    return [str(opts.qemu), *firmware, "-accel", "tcg,thread=multi",
            "-cpu", "EPYC-Rome,+svm,+npt", "-smp", str(opts.vcpus), "-m", opts.memory,
            "-nodefaults", "-display", "none", "-vga", "none", "-nic", "none", "-no-reboot",
            "-kernel", str(kernel), "-initrd", str(initrd),
            # tsc=reliable: L1's TSC is QEMU reading this machine's; the clocksource watchdog's
            # slow emulated HPET reads could mark it unstable, and KVM would then move the L2
            # TSC offset on every vCPU load, which kxen's hypercall-page pvclock takes as fixed.
            "-append", "console=ttyS0 quiet panic=-1 oops=panic tsc=reliable",
            # A human monitor to inspect a wedged L1 (`info registers`, `info cpus`).
            "-monitor", f"unix:{run / 'monitor.sock'},server=on,wait=off",
            "-chardev", f"file,id=con,path={run / 'console.log'}", "-serial", "chardev:con",
            "-device", "virtio-serial-pci",
            "-chardev", f"file,id=out,path={run / 'out'}",
            "-device", "virtserialport,chardev=out,name=kxen.out",
            "-chardev", f"file,id=err,path={run / 'err'}",
            "-device", "virtserialport,chardev=err,name=kxen.err",
            "-virtfs", f"local,path=/,mount_tag=hostroot,readonly=on,{p9}",
            "-virtfs", f"local,path={run / 'ctl'},mount_tag=ctl,{p9}",
            *[arg for index, share in enumerate(shares)
              for arg in ("-virtfs", f"local,path={opt_path(share)},mount_tag=work{index},{p9}")]]


def _die_with_parent() -> None:
    """In QEMU's child before exec: SIGKILL it if this runner dies without cleaning up."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Session:
    def __init__(self, kernel: Path, initrd: Path, command: Command, opts: Options):
        self.kernel, self.initrd, self.command, self.opts = kernel, initrd, command, opts
        self.run_dir = Path(tempfile.mkdtemp(prefix="kxen-lab-"))
        self.qemu: subprocess.Popen | None = None
        self.console_tail = b""
        self.ready_at: float | None = None
        self.failure: Failure | None = None   # set when run() returns EXIT_L1_FAILED

    def run(self) -> int:
        """The command's exit status, or EXIT_TIMEOUT / EXIT_L1_FAILED (then self.failure
        says why, unprinted: the caller may boot again if the command never started)."""
        try:
            self._start()
            return self._supervise()
        finally:
            self._stop()
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _start(self) -> None:
        (self.run_dir / "ctl").mkdir()
        self.command.write(self.run_dir / "ctl")
        self.out = Follower(self.run_dir / "out", sys.stdout.buffer)
        self.err = Follower(self.run_dir / "err", sys.stderr.buffer)
        self.con = Follower(self.run_dir / "console.log",
                            sys.stderr.buffer if self.opts.verbose else None)
        argv = qemu_argv(self.kernel, self.initrd, self.run_dir, self.command.shares, self.opts)
        with open(self.run_dir / "qemu.log", "wb") as log:
            try:
                self.qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True,
                                             preexec_fn=_die_with_parent)
            except FileNotFoundError as err:
                raise LabError(f"{self.opts.qemu} not found: run tests/lab/setup") from err
        self.started = time.monotonic()

    def _supervise(self) -> int:
        while True:
            self._pump()
            if self.ready_at is None and MARK + b"ready" in self.console_tail:
                self.ready_at = time.monotonic()
                up = self.ready_at - self.started
                print(f"lab: L1 up in {up:.1f} s", file=sys.stderr, flush=True)
            verdict = self._verdict()
            if verdict is not None:
                return verdict
            time.sleep(POLL_S)

    def _verdict(self) -> int | None:
        """The run's exit status once it is known, else None."""
        status = self._status()
        if status is not None:
            return self._finish(status)
        if self.qemu.poll() is not None:
            self._pump()
            status = self._status()  # written just before QEMU exited
            reason = self._death_reason()
            return self._finish(status) if status else self._failed(reason, self._l1_ran())
        now = time.monotonic()
        if self.ready_at is None and now - self.started > self.opts.boot_timeout:
            # Not worth another boot: it has already used the whole --boot-timeout.
            return self._failed(f"no ready line after {self.opts.boot_timeout:g} s of boot",
                                retryable=False)
        if self.ready_at is not None and self.opts.timeout and \
                now - self.ready_at > self.opts.timeout:
            self._stop()
            self._pump()
            print(f"lab: timeout after {self.opts.timeout:g} s", file=sys.stderr, flush=True)
            return EXIT_TIMEOUT
        return None

    def _pump(self) -> None:
        self.out.pump()
        self.err.pump()
        self.console_tail = (self.console_tail + self.con.pump())[-65536:]

    def _status(self) -> str | None:
        """init writes "exit N" or "fail why" once, after the command's output is out."""
        try:
            text = (self.run_dir / "ctl" / "status").read_text()
        except FileNotFoundError:
            return None
        return text.strip() if text.endswith("\n") else None  # else still being written

    def _finish(self, status: str) -> int:
        self._wait_qemu(30.0)
        self._pump()
        word, _, rest = status.partition(" ")
        if word == "exit" and rest.isdigit():
            return int(rest)
        return self._failed(f"init: {rest or status}")

    def _wait_qemu(self, seconds: float) -> None:
        try:
            self.qemu.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self._stop()

    def _death_reason(self) -> str:
        for line in reversed(self.console_tail.decode(errors="replace").splitlines()):
            if "Kernel panic" in line or "init failed" in line:
                return line.strip()
        return f"QEMU exited with status {self.qemu.returncode} before the command finished"

    def _l1_ran(self) -> bool:
        """L1 ran and died (with -no-reboot a panic or reset ends QEMU with status 0), as
        opposed to QEMU refusing its options (status 1, nothing on L1's console), which
        another boot would only repeat."""
        return self.qemu.returncode == 0 or bool(self.console_tail.strip())

    def _failed(self, why: str, retryable: bool = True) -> int:
        self._stop()
        self._pump()
        started = (self.run_dir / "ctl" / "started").exists() or self.ready_at is not None
        tails = []
        for name, text in (("console", self.console_tail),
                           ("qemu", (self.run_dir / "qemu.log").read_bytes())):
            lines = [line for line in text.decode(errors="replace").splitlines()
                     if HARMLESS not in line][-25:]
            if lines:
                tails.append(f"lab: last lines of the {name}:")
                tails += [f"  | {line}" for line in lines]
        self.failure = Failure(why, started, retryable and not started, tails)
        return EXIT_L1_FAILED

    def _stop(self) -> None:
        """Kills QEMU (its whole session) if it still runs."""
        if self.qemu is None or self.qemu.poll() is not None:
            return
        os.killpg(self.qemu.pid, signal.SIGTERM)
        try:
            self.qemu.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.qemu.pid, signal.SIGKILL)
            self.qemu.wait()
