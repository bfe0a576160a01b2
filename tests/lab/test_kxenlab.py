"""Unit tests of the lab's pure parts (no QEMU): python3 tests/lab/test_kxenlab.py
Run by the integration case lab-units."""

import contextlib
import gzip
import io
import lzma
import os
import struct
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kxenlab import LabError  # noqa: E402
from kxenlab.command import Command, check_visible, normalise_shares  # noqa: E402
from kxenlab.initramfs import is_static  # noqa: E402
from kxenlab.kernel import Kernel, load_order, module_depends  # noqa: E402
from kxenlab.qemu import suite_version  # noqa: E402
from kxenlab.retry import run_with_retries  # noqa: E402
from kxenlab.session import EXIT_L1_FAILED, Options, Session, qemu_argv  # noqa: E402
from kxenlab.vmlinux import decompress, has_pvh_entry, payload  # noqa: E402


def fake_module(depends: str) -> bytes:
    return b"\x7fELF junk\0license=GPL\0depends=" + depends.encode() + b"\0name=x\0"


def elf_with_note(name: bytes, kind: int) -> bytes:
    """A 64-bit ELF header, one PT_NOTE program header and one note."""
    desc = b"\0" * 8
    note = struct.pack("<III", len(name) + 1, len(desc), kind) + name + b"\0" * (4 - len(name) % 4)
    note += desc
    header = b"\x7fELF\x02\x01" + b"\0" * 26 + struct.pack("<Q", 64) + b"\0" * 14
    header += struct.pack("<HH", 56, 1) + b"\0" * 6
    phdr = struct.pack("<IIQQQQQQ", 4, 0, 120, 0, 0, len(note), len(note), 4)
    return header + phdr + note


def bzimage_around(data: bytes) -> bytes:
    """A bzImage-shaped buffer: 2 setup sectors + 1, payload right after."""
    image = bytearray(3 * 512)
    image[0x1F1] = 2
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<II", image, 0x248, 0, len(data))
    return bytes(image) + data


class ModuleTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.kernel = Kernel("linux-image-test", "test", root)
        mods = root / "lib" / "modules" / "test" / "kernel"
        mods.mkdir(parents=True)
        (mods / "kvm-amd.ko.xz").write_bytes(lzma.compress(fake_module("kvm,ccp")))
        (mods / "kvm.ko").write_bytes(fake_module("irqbypass"))
        (mods / "ccp.ko").write_bytes(fake_module(""))
        (mods / "irqbypass.ko").write_bytes(fake_module(""))
        (mods / "loop.ko").write_bytes(fake_module("missing-one"))

    def tearDown(self):
        self.tmp.cleanup()

    def test_depends_field(self):
        self.assertEqual(module_depends(fake_module("a-b,c")), ["a_b", "c"])
        self.assertEqual(module_depends(fake_module("")), [])
        self.assertEqual(module_depends(b"no modinfo"), [])

    def test_dependencies_load_first_and_once(self):
        names = [name for name, _ in load_order(self.kernel, ["kvm_amd", "kvm"])]
        self.assertEqual(names, ["irqbypass", "kvm", "ccp", "kvm_amd"])

    def test_xz_modules_are_decompressed(self):
        image = dict(load_order(self.kernel, ["kvm_amd"]))["kvm_amd"]
        self.assertTrue(image.startswith(b"\x7fELF"))

    def test_missing_module_is_named(self):
        with self.assertRaisesRegex(LabError, "missing_one"):
            load_order(self.kernel, ["loop"])


class VmlinuxTests(unittest.TestCase):
    def test_pvh_note_found(self):
        self.assertTrue(has_pvh_entry(elf_with_note(b"Xen", 18)))
        self.assertFalse(has_pvh_entry(elf_with_note(b"Xen", 17)))
        self.assertFalse(has_pvh_entry(elf_with_note(b"GNU", 18)))
        self.assertFalse(has_pvh_entry(b"MZ not an elf"))

    def test_payload_round_trip(self):
        elf = elf_with_note(b"Xen", 18)
        for packed in (gzip.compress(elf), lzma.compress(elf) + b"size"):
            self.assertEqual(decompress(payload(bzimage_around(packed))), elf)

    def test_static_means_no_interp_segment(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "elf"
            elf = bytearray(elf_with_note(b"Xen", 18))
            path.write_bytes(elf)
            self.assertTrue(is_static(path))
            struct.pack_into("<I", elf, 64, 3)  # the one segment becomes PT_INTERP
            path.write_bytes(elf)
            self.assertFalse(is_static(path))
            path.write_bytes(b"#!/bin/sh\n")
            self.assertFalse(is_static(path))

    def test_not_a_bzimage(self):
        with self.assertRaises(LabError):
            payload(b"\0" * 4096)


class CommandTests(unittest.TestCase):
    def test_script_keeps_argv_and_env_exact(self):
        with tempfile.TemporaryDirectory() as tmp:
            argv = ["sh", "-c", 'printf "[%s]" "$@" "$KXEN_X"', "sh", "a b", "it's", "$HOME", ""]
            command = Command(argv, Path(tmp), [], {"KXEN_X": "x'y z"})
            out = subprocess.run(["/bin/sh", "-s"], input=command.script(), text=True,
                                 capture_output=True, check=True).stdout
        self.assertEqual(out, "[a b][it's][$HOME][][x'y z]")

    def test_pinned_command_runs_on_that_cpu_only(self):
        cpu = max(os.sched_getaffinity(0))  # one this process may use (a container may not have CPU 0)
        with tempfile.TemporaryDirectory() as tmp:
            command = Command(["sh", "-c", "grep Cpus_allowed_list /proc/self/status"], Path(tmp), [],
                              pin_cpu=cpu)
            out = subprocess.run(["/bin/sh", "-s"], input=command.script(), text=True,
                                 capture_output=True, check=True).stdout
        self.assertEqual(out.split(), ["Cpus_allowed_list:", str(cpu)])

    def test_shares_nested_are_merged(self):
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "sub").mkdir()
            shares = normalise_shares([Path(tmp) / "sub", Path(tmp)])
            self.assertEqual(shares, [Path(tmp).resolve()])
            with self.assertRaises(LabError):
                normalise_shares([Path(tmp) / "absent"])

    def test_separate_share_is_mounted_over_its_parent(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp).resolve()
            (root / "scratch").mkdir()
            (root / "other").mkdir()
            shares = normalise_shares([root / "scratch", root / "other", root], separate=[root / "scratch"])
            self.assertEqual(shares, [root, root / "scratch"])
            command = Command(["true"], root, shares, uncached=[root / "scratch"])
            self.assertEqual(command.mounts(), f"work0 mmap {root}\nwork1 none {root}/scratch\n")

    def test_mounts_name_each_share_cache_mode(self):
        command = Command(["true"], Path("/"), [Path("/repo with space"), Path("/var/tmp/scratch")],
                          uncached=[Path("/var/tmp/scratch")])
        self.assertEqual(command.mounts(), "work0 mmap /repo with space\nwork1 none /var/tmp/scratch\n")

    def test_hidden_cwd_is_refused(self):
        check_visible(Path("/tmp/x"), [Path("/tmp")])
        check_visible(Path("/work/x"), [])
        with self.assertRaisesRegex(LabError, "--work"):
            check_visible(Path("/tmp/x"), [Path("/var/tmp")])


# Stands in for qemu-system-x86_64: each start takes the next behaviour from the plan file
# and acts out what L1 would leave in the run dir (console, command output, ctl share).
FAKE_QEMU = r"""#!/usr/bin/env python3
import os, sys
from pathlib import Path
argv = sys.argv[1:]
def option(flag, key):
    for index, arg in enumerate(argv[:-1]):
        if arg == flag and key in argv[index + 1]:
            fields = dict(f.split("=", 1) for f in argv[index + 1].split(",") if "=" in f)
            return Path(fields["path"])
chardevs = {p.name: p for p in (option("-chardev", "id=" + i) for i in ("con", "out"))}
ctl = option("-virtfs", "mount_tag=ctl")
plan = Path(os.environ["FAKE_QEMU_PLAN"])
steps = plan.read_text().split()
plan.write_text("\n".join(steps[1:]))
with open(plan.with_suffix(".log"), "a") as log:
    log.write(steps[0] + "\n")
def console(text):
    with open(chardevs["console.log"], "a") as f:
        f.write(text + "\n")
step = steps[0]
if step == "refuse":
    print("qemu-system-x86_64: -smp 1000: bad", file=sys.stderr)
    sys.exit(1)
if step in ("started", "late", "ok"):
    (ctl / "started").write_text("")
if step in ("late", "ok"):
    console("kxen-lab: ready")
    with open(chardevs["out"], "a") as f:
        f.write("side effect\n")
if step == "ok":
    (ctl / "status").write_text("exit 0\n")
    sys.exit(0)
console("Kernel panic - not syncing: fake kcompactd")
"""


class RetryTests(unittest.TestCase):
    """tests/lab/run boots L1 again only when it died before the command started."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        fake = self.dir / "qemu-system-x86_64"
        fake.write_text(FAKE_QEMU)
        fake.chmod(0o755)
        self.old_path = os.environ["PATH"]
        os.environ["PATH"] = f"{self.dir}:{self.old_path}"
        os.environ["FAKE_QEMU_PLAN"] = str(self.dir / "plan")

    def tearDown(self):
        os.environ["PATH"] = self.old_path
        del os.environ["FAKE_QEMU_PLAN"]
        self.tmp.cleanup()

    def run_plan(self, *steps: str) -> tuple[int, str, str, list[str]]:
        """Status, stdout, stderr and the behaviours QEMU was started with."""
        (self.dir / "plan").write_text("\n".join(steps))
        command = Command(["true"], self.dir, [])
        out, err = io.TextIOWrapper(io.BytesIO()), io.TextIOWrapper(io.BytesIO())
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = run_with_retries(lambda: Session(self.dir / "k", self.dir / "i", command,
                                                      Options(boot_timeout=30)))
        out.flush()
        err.flush()
        started = (self.dir / "plan.log").read_text().split()
        return (status, out.buffer.getvalue().decode(), err.buffer.getvalue().decode(), started)

    def test_death_before_the_command_boots_again(self):
        status, out, err, started = self.run_plan("early", "ok")
        self.assertEqual((status, started, out), (0, ["early", "ok"], "side effect\n"))
        self.assertIn("lab: L1 failed before CMD started (Kernel panic - not syncing: fake "
                      "kcompactd); retrying (attempt 2/3)\n", err)
        self.assertNotIn("lab: L1 failed:", err)

    def test_retries_are_bounded(self):
        status, _, err, started = self.run_plan("early", "early", "early", "ok")
        self.assertEqual((status, started), (EXIT_L1_FAILED, ["early"] * 3))
        self.assertEqual(err.count("; retrying (attempt "), 2)
        self.assertIn("(attempt 3/3)", err)
        self.assertIn("lab: L1 failed: Kernel panic - not syncing: fake kcompactd\n", err)

    def test_death_after_the_command_started_is_final(self):
        status, out, err, started = self.run_plan("late", "ok")
        self.assertEqual((status, started, out), (EXIT_L1_FAILED, ["late"], "side effect\n"))
        self.assertIn("lab: L1 failed: Kernel panic - not syncing: fake kcompactd\n", err)
        self.assertNotIn("retrying", err)

    def test_started_file_without_ready_line_is_final(self):
        # init creates ctl/started just before the command: the ready line may be lost.
        status, _, err, started = self.run_plan("started", "ok")
        self.assertEqual((status, started), (EXIT_L1_FAILED, ["started"]))
        self.assertNotIn("retrying", err)

    def test_qemu_refusing_its_options_is_final(self):
        status, _, err, started = self.run_plan("refuse", "ok")
        self.assertEqual((status, started), (EXIT_L1_FAILED, ["refuse"]))
        self.assertIn("lab: L1 failed: QEMU exited with status 1", err)
        self.assertIn("-smp 1000: bad", err)
        self.assertNotIn("retrying", err)

# Stands in for apt-cache: madison lists the release's and backports' builds; show answers
# for the backports one only.
FAKE_APT_CACHE = r"""#!/bin/sh
case "$1" in
madison)
    echo " $2 | 1:7.2+dfsg-7 | http://deb.debian.org/debian bookworm/main amd64 Packages"
    echo " $2 | 1:10.0.2~bpo12+1 | http://deb.debian.org/debian bookworm-backports/main amd64 Packages"
    echo " $2 | 1:10.0.2~bpo12+1 | http://deb.debian.org/debian bookworm-backports/main Sources" ;;
show)
    [ "$2" = "$FAKE_WANT" ] || exit 100
    printf 'Package: x\nVersion: 1:10.0.2~bpo12+1\nSHA256: abc123\n\nPackage: y\nSHA256: other\n' ;;
esac
"""


class QemuTests(unittest.TestCase):
    """L1's QEMU: the backports build, picked from apt's lists, passed with its firmware dirs."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        fake = Path(self.tmp.name) / "apt-cache"
        fake.write_text(FAKE_APT_CACHE)
        fake.chmod(0o755)
        self.old_path = os.environ["PATH"]
        os.environ["PATH"] = f"{self.tmp.name}:{self.old_path}"

    def tearDown(self):
        os.environ["PATH"] = self.old_path
        os.environ.pop("FAKE_WANT", None)
        self.tmp.cleanup()

    def test_backports_version_and_its_sha256(self):
        os.environ["FAKE_WANT"] = "qemu-system-x86=1:10.0.2~bpo12+1"
        self.assertEqual(suite_version("qemu-system-x86"), ("1:10.0.2~bpo12+1", "abc123"))

    def test_argv_runs_the_given_qemu_with_its_firmware(self):
        opts = Options(qemu=Path("/c/q/bin/qemu"), firmware_dirs=(Path("/c/q/share"), Path("/s/bios")))
        argv = qemu_argv(Path("/k"), Path("/i"), Path("/r"), [], opts)
        self.assertEqual(argv[:5], ["/c/q/bin/qemu", "-L", "/c/q/share", "-L", "/s/bios"])


if __name__ == "__main__":
    unittest.main()
