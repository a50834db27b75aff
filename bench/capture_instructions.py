"""Instructions per ``capture_exception()`` on the calling thread, counted by callgrind.

    python bench/capture_instructions.py [SRC_DIR ...]

Wall-clock figures of one build against another move by 10-20 % from run to run on a
shared 2-core machine; instruction counts do not (the same binary, inputs and
environment give the same count, whatever else the machine does). For each source
folder given (by default this checkout's ``src``), and for depths 10 and 100 with local
variables off and on, this runs a capture program under ``valgrind --tool=callgrind
--separate-threads=yes`` twice — once raising N exceptions without capturing them, once
raising and capturing them (both after the same warm-up) — and prints the difference per
capture, counted on the capturing thread alone (the delivery thread's work is left out).
Compare two builds by passing both folders, e.g. a ``git worktree`` of the previous
commit and this one. Needs valgrind (Debian's ``valgrind`` package); takes about two
minutes per folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = """
import sys
from posthog_exceptions import Client, TransportResponse

class AcceptAll:
    def send(self, body, headers):
        return TransportResponse(200)

    def close(self):
        pass

def raise_at(depth):
    if depth == 0:
        order = {"id": 42, "items": [1, 2, 3]}
        name = "checkout"
        raise ValueError("order 42 failed")
    raise_at(depth - 1)

def caught(depth, count):
    out = []
    for _ in range(count):
        try:
            raise_at(depth)
        except ValueError as exc:
            out.append(exc)
    return out

locals_on, depth, count = sys.argv[1] == "on", int(sys.argv[2]), int(sys.argv[3])
capture = sys.argv[4] == "capture"
client = Client("phc_bench", host="http://127.0.0.1:9", transport=AcceptAll(),
                max_queue_size=10**6, max_queue_bytes=2**31, rate_limit=False,
                capture_locals=locals_on)
for exc in caught(depth, 3):  # imports, caches, the worker thread
    client.capture_exception(exc)
client.flush(10)
for exc in caught(depth, count):
    if capture:
        client.capture_exception(exc)
client.flush(60)
"""
CASES = (("off", 10, 200), ("off", 100, 50), ("on", 10, 200), ("on", 100, 50))


def _calling_thread_instructions(src: Path, args: list[str], scratch: Path) -> int:
    out = scratch / "cg.out"
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-c",
            PROGRAM,
            *args,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    text = Path(f"{out}-01").read_text()  # thread 1: the capturing (main) thread
    for path in scratch.glob("cg.out*"):
        path.unlink()
    found = re.search(r"^summary: (\d+)", text, re.MULTILINE)
    assert found is not None, "callgrind wrote no summary"
    return int(found.group(1))


def main(argv: list[str]) -> int:
    sources = [Path(a).resolve() for a in argv] or [ROOT / "src"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *map(str, sources)], check=True)
    print("instructions per capture_exception() on the calling thread (callgrind)")
    with tempfile.TemporaryDirectory() as scratch:
        for src in sources:
            for local_vars, depth, count in CASES:
                base = [local_vars, str(depth), str(count)]
                raised = _calling_thread_instructions(src, [*base, "raise"], Path(scratch))
                full = _calling_thread_instructions(src, [*base, "capture"], Path(scratch))
                per = (full - raised) / count
                print(f"{src}  depth {depth:>3}, locals {local_vars:>3}: {per / 1000:,.0f} K")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
