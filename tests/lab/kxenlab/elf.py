"""The little of ELF64 the lab reads: program headers."""

import struct
from typing import NamedTuple

PT_INTERP = 3
PT_NOTE = 4


class Segment(NamedTuple):
    kind: int
    offset: int
    size: int  # p_filesz


def program_headers(elf: bytes) -> list[Segment] | None:
    """The segments of a 64-bit little-endian ELF, or None if elf is not one."""
    if elf[:6] != b"\x7fELF\x02\x01":
        return None
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    segments = []
    for index in range(phnum):
        kind, _flags, offset, _va, _pa, size = struct.unpack_from(
            "<IIQQQQ", elf, phoff + index * phentsize)
        segments.append(Segment(kind, offset, size))
    return segments
