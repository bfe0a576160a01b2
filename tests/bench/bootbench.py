"""One timed boot: start a VMM, stream the guest console, stop at the init marker (or at a
later line the guest prints after its workload).

Used by tests/bench/boot-time, evtchn-abi, blk and net. Times are wall-clock seconds from
just before the VMM's exec, read with time.monotonic() as the console bytes arrive on a pipe.
Also the pieces blk and net share: installing a tool, guest modules from Debian's kernel
package, packing an initramfs, and resuming a lab run's owed runs in a fresh L1.
"""

import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

SRC = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SRC / "tests" / "lab"))
from kxenlab.kernel import Kernel, load_order  # noqa: E402

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


# /init lines (after linux_guest's prologue): the marker with the guest's uptime, then the modules
# of /lib/modules/kxen/load.list, each with the NAME.param=value words of the kernel command line
# as modprobe would pass them (busybox insmod does not read /proc/cmdline); a driver that finds no
# device (the other VMM's) is fine.
GUEST_START = r"""
read up idle </proc/uptime
echo "KXEN-BENCH-MARKER uptime=$up"
while read -r mod; do
    name=${mod%.ko}
    params=$(tr ' ' '\n' </proc/cmdline | sed -n "s/^$name\.//p" | tr '\n' ' ')
    insmod "/lib/modules/kxen/$mod" $params 2>/dev/null || echo "KXEN-INSMOD $mod not loaded (status $?)"
done </lib/modules/kxen/load.list
"""


def qemu_q35_argv(kernel: Path, initrd: Path, vcpus: int, memory: str, append: str) -> list[str]:
    """QEMU 7.2 on L1's KVM, q35 (virtio-pci with MSI-X; virtio_pci is built into Debian's kernel,
    microvm's virtio-mmio would need virtio_mmio and ACPI discovery), the guest's console a
    virtio console on hvc0 as kxen's is a PV one: the emulated UART passed ~140 bytes/s in the
    lab (tests/bench/README.md). The caller adds the device under test."""
    return ["qemu-system-x86_64", "-M", "q35", "-accel", "kvm", "-cpu", "host",
            "-smp", str(vcpus), "-m", memory, "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-name", "bench,debug-threads=on",
            "-device", "virtio-serial-pci", "-chardev", "stdio,id=con0", "-device", "virtconsole,chardev=con0",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", append]


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
    kvm_trace: dict | None = None        # with `trace`: KvmTrace counts from the marker to the end line
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
    return pack_cpio(root, work / "initramfs.cpio")


def pack_cpio(root: Path, image: Path) -> Path:
    """root as an uncompressed newc cpio at image (unpacking gzip under the lab's TCG costs
    seconds per boot)."""
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
               dump_signal: int | None = None, trace: "KvmTrace | None" = None,
               profile: "HostProfile | None" = None) -> Boot:
    """Runs argv until the marker is on its console (its stdout), or with `until` until that
    later line is, then kills it. The console goes to LOG, stderr to LOG.err; setup_line: a
    stderr text that marks the end of the VMM's own set-up (boot.setup_s); dump_signal: sent
    to a VMM that ran out of time, whose stderr then says where it hung (kxen: SIGUSR1);
    trace: armed at the marker and read at the end line (boot.kvm_trace); profile: started at
    the marker, stopped at its own `until` line (or the end line)."""
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
                    if trace is not None and until is not None:
                        why = trace.start()
                        if why:
                            print(f"bench: no KVM trace: {why}", flush=True)
                    if profile is not None:
                        why = profile.start()
                        if why:
                            print(f"bench: no host profile: {why}", flush=True)
                if profile is not None and profile.running() and profile.until.search(console):
                    profile.stop()
                boot.ok = boot.marker_s is not None and (until is None or bool(until.search(console)))
                if boot.ok and until is not None:
                    boot.end_s, boot.end_cpu_s = now, cpu_seconds(child.pid)
                    boot.threads_cpu = thread_cpu_seconds(child.pid)
                    if trace is not None and trace.armed:
                        boot.kvm_trace = trace.read(child.pid)
        if dump_signal is not None and child.poll() is None and not boot.ok:
            child.send_signal(dump_signal)
            deadline = time.monotonic() + DUMP_WAIT_S
            while streams.open() and time.monotonic() < deadline:
                errors += b"".join(chunk for fd, chunk in streams.read(0.2) if fd != streams.console_fd)
    finally:
        if trace is not None:
            trace.stop()
        if profile is not None:
            profile.stop()
        stop(child)
        if profile is not None:
            profile.finish()
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


def ensure_tool(name: str, package: str) -> str:
    """The path of NAME, apt-get installing PACKAGE here first when it is missing (the lab's L1
    uses this machine's root, read-only, so it must be installed before the lab run)."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not found:
        if os.geteuid() != 0:
            sys.exit(f"bench: {name} is missing: apt-get install {package} (or tests/install-deps as root)")
        print(f"bench: installing {package} (apt-get install -y {package})", flush=True)
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", package], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not found:
        sys.exit(f"bench: no {name} after installing {package}")
    return found


def kernel_modules(kernel: Path, names: list[str], work: Path) -> list[tuple[str, bytes]]:
    """(name, plain .ko) of NAMES and their dependencies, dependencies first, from Debian's
    package of the bzImage's release: tests/fetch-kernels keeps only the Xen and ext4 modules;
    the lab unpacks the whole package for L1 (the same one when the versions agree), else it is
    apt-get downloaded into work."""
    release = kernel.name.removeprefix("vmlinuz-")
    package = f"linux-image-{release}"
    root = Path(os.environ.get("KXEN_CACHE", "/var/cache/kxen")) / "lab" / "kernels" / package
    if not (root / "lib" / "modules" / release).is_dir():
        print(f"bench: fetching {package} for {', '.join(names)}", flush=True)
        subprocess.run(["apt-get", "download", "-q", package], cwd=work, check=True)
        deb = next(work.glob(f"{package}_*.deb"))
        root = work / "deb"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return load_order(Kernel(package, release, root), names)


def load_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


LAB_FAILED = 125  # tests/lab/run: L1 died (not a result of the command)


def resume_in_lab(planned: list, done: Callable[[], set], boots: int, run: Callable[[list], int]) -> None:
    """Calls run(owed runs) in one L1 after another until every planned run is done (each run
    appends its result as it ends, which done() reads back), at most BOOTS L1 boots."""
    for attempt in range(1, boots + 1):
        finished = done()
        owed = [item for item in planned if item not in finished]
        if not owed:
            return
        if attempt > 1:
            print(f"bench: L1 ended before {len(owed)} run(s); resuming them in a fresh L1 "
                  f"(attempt {attempt}/{boots})", flush=True)
        status = run(owed)
        if status not in (0, 1, LAB_FAILED):
            print(f"bench: the lab run ended with status {status}", flush=True)
            return


# SVM exit codes (the lab's L1 is AMD SVM under TCG) that a VMM's vCPU threads see most.
SVM_EXIT_NAMES = {0x60: "intr", 0x61: "nmi", 0x64: "vintr", 0x72: "cpuid", 0x78: "hlt", 0x7b: "io",
                  0x7c: "msr", 0x7f: "shutdown", 0x81: "vmmcall", 0x400: "npf", 0x401: "avic_incomplete_ipi",
                  0x402: "avic_unaccelerated_access"}
# Xen hypercall numbers and the sub-ops kvm-xen handles in the kernel.
XEN_HYPERCALL_NAMES = {29: "sched_op", 24: "vcpu_op", 32: "event_channel_op", 20: "grant_table_op", 34: "hvm_op",
                       12: "memory_op", 17: "xen_version", 35: "sysctl", 36: "domctl"}
# KVM_EXIT_* codes of the exits that reach the VMM's user space.
KVM_USER_EXIT_NAMES = {2: "io", 5: "hlt", 6: "mmio", 8: "shutdown", 10: "intr", 24: "system_event",
                       29: "rdmsr", 30: "wrmsr", 34: "xen"}


class KvmTrace:
    """Counts, through tracefs hist triggers in the kernel running the VMM (L1 in the lab), the
    VM exits by reason, the Xen hypercalls KVM saw by number and first argument, and the
    interrupts injected by vector, the exits that reach user space, and the halts by how they
    ended (woken while KVM polled, or after sleeping) with the time they lasted, per thread:
    what a guest's I/O costs in exits, which is what the nested lab makes expensive. Only the
    VMM's threads are kept when read."""

    EVENTS = {
        "kvm_exit": "hist:keys=common_pid,exit_reason:size=4096",
        "kvm_xen_hypercall": "hist:keys=common_pid,nr,a0:size=4096",
        "kvm_inj_virq": "hist:keys=common_pid,vector:size=4096",
        "kvm_userspace_exit": "hist:keys=common_pid,reason:size=4096",
        "kvm_vcpu_wakeup": "hist:keys=common_pid,waited:vals=hitcount,ns:size=4096",
    }
    ROOT = Path("/sys/kernel/tracing/events/kvm")

    def __init__(self):
        self.armed: list[Path] = []

    def start(self) -> str:
        """Arms the triggers; returns why not (empty when armed)."""
        for event, spec in self.EVENTS.items():
            trigger = self.ROOT / event / "trigger"
            try:
                trigger.write_text("!" + spec)  # a run that died armed it: start from zero
            except OSError:
                pass
            try:
                trigger.write_text(spec)
            except OSError as e:
                self.stop()
                return f"{trigger}: {e}"
            self.armed.append(trigger)
        return ""

    def read(self, pid: int) -> dict:
        """Counts for the threads of process pid since start, by event and key."""
        tids = {int(t.name) for t in Path(f"/proc/{pid}/task").glob("*") if t.name.isdigit()}
        out: dict[str, dict[str, int]] = {}
        for trigger in self.armed:
            event = trigger.parent.name
            counts: dict[str, int] = {}
            for line in (trigger.parent / "hist").read_text().splitlines():
                m = re.match(r"\{ (.*) \} hitcount:\s*(\d+)", line)
                if not m:
                    continue
                fields = dict(re.findall(r"(\w+):\s*([^,\s]+)", m.group(1)))
                if int(fields.pop("common_pid", -1)) not in tids:
                    continue
                key = self._key(event, fields)
                counts[key] = counts.get(key, 0) + int(m.group(2))
                ns = re.search(r"\bns:\s*(\d+)", line[m.end():])
                if ns:  # a halt's length, summed: "KEY us" is the time those halts took
                    counts[f"{key} us"] = counts.get(f"{key} us", 0) + int(ns.group(1)) // 1000
            out[event] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        return out

    @staticmethod
    def _key(event: str, fields: dict[str, str]) -> str:
        if event == "kvm_exit":
            code = int(fields["exit_reason"])
            return SVM_EXIT_NAMES.get(code, hex(code))
        if event == "kvm_xen_hypercall":
            nr = int(fields["nr"])
            return f"{XEN_HYPERCALL_NAMES.get(nr, nr)}/{int(fields['a0'])}"
        if event == "kvm_userspace_exit":
            code = int(fields["reason"])
            return KVM_USER_EXIT_NAMES.get(code, str(code))
        if event == "kvm_vcpu_wakeup":
            return "slept" if int(fields["waited"]) else "polled"
        return f"vector {int(fields['vector']):#x}"

    def stop(self) -> None:
        for trigger in self.armed:
            try:
                trigger.write_text("!" + self.EVENTS[trigger.parent.name])
            except OSError:
                pass
        self.armed = []


class HostProfile:
    """perf's cpu-clock samples of the whole kernel running the VMM (L1 in the lab: no PMU
    there, so a timer samples), by command and by command, object and symbol. KVM hands samples
    taken while a guest runs to that guest, at guest addresses this kernel cannot name, so guest
    time spreads thin under the VMM's vCPU threads. No call graphs: kxen has no frame pointers."""

    def __init__(self, report: Path, until: re.Pattern, hz: int = 199):
        self.report, self.until, self.hz = report, until, hz
        self.data = Path(tempfile.gettempdir()) / f"kxen-bench-{os.getpid()}.perf.data"
        self.child: subprocess.Popen | None = None

    def start(self) -> str:
        perf = shutil.which("perf")
        if not perf:
            return "no perf here (apt-get install linux-perf)"
        self.child = subprocess.Popen([perf, "record", "-q", "-a", "-e", "cpu-clock", "-F", str(self.hz), "-o",
                                       str(self.data)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        return ""

    def running(self) -> bool:
        return self.child is not None and self.child.poll() is None

    def stop(self) -> None:
        """Ends the recording."""
        if not self.running():
            return
        self.child.send_signal(signal.SIGINT)
        try:
            self.child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()

    def finish(self) -> None:
        """Writes the report, after the VMM has gone (perf report under TCG takes a while)."""
        if self.child is None:
            return
        self.stop()
        err = self.child.stderr.read().decode(errors="replace")
        text = err
        for sort in ("comm", "comm,dso,sym"):
            out = subprocess.run(["perf", "report", "-i", str(self.data), "--stdio", "--sort", sort,
                                  "--percent-limit", "0.3"], capture_output=True, text=True, check=False, timeout=900)
            text += out.stdout + out.stderr
        self.report.write_text(text)
        self.data.unlink(missing_ok=True)
        self.child = None


def trace_summary(counts: dict | None, top: int = 5) -> str:
    """One line from KvmTrace.read: each event's total and its largest keys."""
    if not counts:
        return "no KVM trace"
    names = {"kvm_exit": "exits", "kvm_xen_hypercall": "xen hypercalls", "kvm_inj_virq": "injected irqs",
             "kvm_userspace_exit": "exits to user space", "kvm_vcpu_wakeup": "halts"}
    parts = []
    for event, per in counts.items():
        largest = ", ".join(f"{k} {v}" for k, v in list(per.items())[:top])
        total = sum(v for k, v in per.items() if not k.endswith(" us"))
        parts.append(f"{names.get(event, event)} {total}" + (f" ({largest})" if largest else ""))
    return "; ".join(parts)
