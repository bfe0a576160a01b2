"""The L1 kernel as a plain ELF vmlinux, booted by QEMU through its PVH entry.

Under TCG, every boot of the bzImage decompresses its 57 MB payload again (measured:
1-5 s of a 17-30 s boot on the loaded 2-core machine); QEMU boots an ELF kernel with a
XEN_ELFNOTE_PHYS32_ENTRY note directly (PVH), so the payload is decompressed once here.
"""

import gzip
import lzma
import os
import struct
import subprocess
from pathlib import Path

from . import LabError
from .elf import PT_NOTE, program_headers

SETUP_SECTS = 0x1F1      # boot protocol header fields (Documentation/arch/x86/boot.rst)
PAYLOAD_OFFSET = 0x248
XEN_ELFNOTE_PHYS32_ENTRY = 18


def payload(bzimage: bytes) -> bytes:
    """The compressed kernel inside a bzImage."""
    if bzimage[0x202:0x206] != b"HdrS":
        raise LabError("the L1 kernel is not a bzImage")
    setup_sects = bzimage[SETUP_SECTS] or 4
    offset, length = struct.unpack_from("<II", bzimage, PAYLOAD_OFFSET)
    start = (setup_sects + 1) * 512 + offset
    return bzimage[start:start + length]


def decompress(data: bytes) -> bytes:
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        # The kernel appends the decompressed size (le32), which zstd would reject.
        done = subprocess.run(["zstd", "-dcq"], input=data[:-4], capture_output=True)
        if done.returncode != 0:
            raise LabError(f"zstd: {done.stderr.decode().strip()} (run tests/lab/setup)")
        return done.stdout
    if data.startswith(b"\xfd7zXZ\x00"):
        return lzma.decompress(data[:-4])
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data)
    raise LabError(f"unknown bzImage payload compression {data[:6].hex()}")


def has_pvh_entry(elf: bytes) -> bool:
    """Whether a 64-bit ELF has a Xen PHYS32_ENTRY note in a PT_NOTE segment."""
    segments = program_headers(elf) or []
    return any(_notes_have_pvh(elf[seg.offset:seg.offset + seg.size])
               for seg in segments if seg.kind == PT_NOTE)


def _notes_have_pvh(notes: bytes) -> bool:
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, pos)
        name = notes[pos + 12:pos + 12 + namesz].rstrip(b"\0")
        if name == b"Xen" and kind == XEN_ELFNOTE_PHYS32_ENTRY:
            return True
        pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def prepare_vmlinux(vmlinuz: Path) -> Path:
    """vmlinux beside vmlinuz, extracted once (atomically)."""
    target = vmlinuz.with_name("vmlinux-pvh")
    if target.is_file():
        return target
    elf = decompress(payload(vmlinuz.read_bytes()))
    if not has_pvh_entry(elf):
        raise LabError(f"{vmlinuz.name}'s payload has no PVH entry note")
    partial = target.with_name(target.name + ".tmp")
    partial.write_bytes(elf)
    os.rename(partial, target)
    return target
