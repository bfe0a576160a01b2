#!/bin/sh
# The lab's pure helpers (module order, vmlinux extraction, command quoting, shares).
# timeout: 60
exec python3 "$KXEN_SRC/tests/lab/test_kxenlab.py" -v
