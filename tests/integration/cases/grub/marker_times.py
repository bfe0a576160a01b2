"""Types the line TEXT on fd 3 (GRUB's console input) and prints the host time, in ms, at
which each MARK first appears as a whole line of FILE (GRUB's console output, ANSI escapes
and CRs removed), all on one line. Follows FILE every 5 ms, so a mark is timed within ~5 ms:
the shell's 50 ms polls through sed and grep were late by up to 0.3 s. Exit 1 on timeout.

usage: marker_times.py FILE SECONDS TEXT MARK...
"""

import os
import re
import sys
import time

ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\r")


def main() -> int:
    path, seconds, text, marks = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
    seen: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    data = b""
    with open(path, "rb") as out:
        data = out.read()
        os.write(3, text.encode() + b"\n")
        while len(seen) < len(marks) and time.monotonic() < deadline:
            chunk = out.read()
            if not chunk:
                time.sleep(0.005)
                continue
            now_ms = time.time_ns() // 1_000_000
            data += chunk
            lines = ESCAPES.sub(b"", data).split(b"\n")
            for mark in marks:
                if mark not in seen and mark.encode() in lines[:-1]:
                    seen[mark] = now_ms
    if len(seen) < len(marks):
        print(f"missing: {' '.join(m for m in marks if m not in seen)}", file=sys.stderr)
        return 1
    print(" ".join(str(seen[mark]) for mark in marks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
