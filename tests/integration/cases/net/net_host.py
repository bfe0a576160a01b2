"""Host side of the network cases, run in the lab's L1 next to kxen: serves a random file to the
guest over HTTP, fetches the guest's file from its busybox httpd once the guest says it is ready,
and prints what it saw as KEY=VALUE lines (SHA-256s, sizes, errors).

    python3 net_host.py transfer --console FILE --bind ADDR --guest URL --size BYTES [--timeout S]
                                 [--tap NAME]

The guest's console FILE is watched for a line "KXEN-NET-READY"; the guest then finds
/down (SIZE random bytes) and /done (served only after the fetch of URL ended) on ADDR:8081.
With --tap, the tap's queues attached at that moment (its tx-N entries in sysfs) are printed."""

import argparse
import hashlib
import http.server
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

PORT = 8081


def serve(bind: str, payload: bytes, done: threading.Event) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/down":
                body = payload
            elif self.path == "/done" and done.is_set():
                body = b"done\n"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((bind, PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_for_line(console: Path, text: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if console.exists() and text in console.read_text(errors="replace"):
            return True
        time.sleep(0.5)
    return False


def transfer(args: argparse.Namespace) -> int:
    payload = os.urandom(args.size)
    print(f"HOST-DOWN-SHA={hashlib.sha256(payload).hexdigest()}", flush=True)
    done = threading.Event()
    server = serve(args.bind, payload, done)
    try:
        if not wait_for_line(Path(args.console), "KXEN-NET-READY", args.timeout):
            print("HOST-ERROR=the guest never said KXEN-NET-READY", flush=True)
            return 1
        if args.tap:
            queues = sorted(Path(f"/sys/class/net/{args.tap}/queues").glob("tx-*"))
            print(f"HOST-TAP-QUEUES={len(queues)}", flush=True)
        start = time.monotonic()
        try:
            with urllib.request.urlopen(args.guest, timeout=args.timeout) as reply:
                data = reply.read()
            print(f"HOST-UP-SHA={hashlib.sha256(data).hexdigest()}", flush=True)
            print(f"HOST-UP-BYTES={len(data)}", flush=True)
            print(f"HOST-UP-SECONDS={time.monotonic() - start:.1f}", flush=True)
        except OSError as e:
            print(f"HOST-ERROR=fetching {args.guest}: {e}", flush=True)
        done.set()
        wait_for_line(Path(args.console), "KXEN-DONE", args.timeout)
        return 0
    finally:
        server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("transfer")
    t.add_argument("--console", required=True)
    t.add_argument("--bind", required=True)
    t.add_argument("--guest", required=True)
    t.add_argument("--size", type=int, default=16 << 20)
    t.add_argument("--timeout", type=float, default=600)
    t.add_argument("--tap")
    args = parser.parse_args()
    return transfer(args)


if __name__ == "__main__":
    sys.exit(main())
