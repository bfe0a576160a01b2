"""Writes a minimal ELF64 PVH kernel: one PT_LOAD at PADDR of SIZE bytes and a Xen PHYS32_ENTRY note.

usage: python3 make_elf.py OUT PADDR SIZE [--no-note] [--code HEX]
Used by the bad-input cases to build kernels that no real build would produce; --code replaces
the entry's instructions (default: hlt).
"""
import struct
import sys

XEN_ELFNOTE_PHYS32_ENTRY = 18  # <xen/elfnote.h>


def main():
    out, paddr, size = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3], 0)
    with_note = "--no-note" not in sys.argv
    note = b""
    if with_note:
        name = b"Xen\0"
        desc = struct.pack("<I", paddr & 0xFFFFFFFF)
        note = struct.pack("<III", len(name), len(desc), XEN_ELFNOTE_PHYS32_ENTRY) + name + desc
    phnum = 2 if with_note else 1
    ehsize, phentsize = 64, 56
    body_off = ehsize + phnum * phentsize
    code = bytes.fromhex(sys.argv[sys.argv.index("--code") + 1]) if "--code" in sys.argv else b"\xf4" * 16
    note_off = body_off + len(code)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, paddr, ehsize, 0, 0, ehsize, phentsize, phnum, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, body_off, paddr, paddr, len(code), max(size, len(code)), 0x1000)
    phdrs = load
    if with_note:
        phdrs += struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    with open(out, "wb") as f:
        f.write(ehdr + phdrs + code + note)


if __name__ == "__main__":
    main()
