"""The demo behind `make demo`: no PostHog account, no network.

1. Starts the embedded local inbox (a PostHog-compatible capture endpoint) on a free
   port, storing events in a fresh SQLite file.
2. Runs the example programs against it, as a user would: events and a handled error,
   a decorator, a crashing thread, and an unhandled crash — twice, with different
   order ids, to show that both land in one group.
3. Prints what the inbox received, the exceptions grouped by fingerprint, and the
   crash group's latest event as a traceback — the same output as
   `python -m posthog_exceptions events | issues | show FINGERPRINT`.
4. Ends by printing the address of the inbox's web page (issues, frames, live events).
   Run from a terminal, it then keeps serving the page until Ctrl-C; run with its output
   going elsewhere (a pipe, a file, a test), it stops the inbox and exits at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from posthog_exceptions.__main__ import main as cli
from posthog_exceptions.inbox import Inbox
from posthog_exceptions.inbox._issues import load_issues

EXAMPLES = Path(__file__).resolve().parent
PROGRAMS = [
    ("manual_capture.py",),
    ("decorator.py",),
    ("thread_crash.py",),
    ("unhandled_crash.py", "1001"),
    ("unhandled_crash.py", "2002"),
]


def banner(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


def run_example(url: str, script: str, *args: str) -> None:
    env = {**os.environ, "POSTHOG_API_KEY": "phc_demo", "POSTHOG_HOST": url}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    print(f"$ python examples/{' '.join((script, *args))}   (exit status {result.returncode})")
    for line in (result.stdout + result.stderr).strip().splitlines():
        print(f"    {line}")


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        db = os.path.join(workdir, "inbox.sqlite3")
        with Inbox(db=db) as inbox:
            banner(f"local inbox listening on {inbox.url}")
            for program in PROGRAMS:
                run_example(inbox.url, *program)
            status = show_what_arrived(db)
            interactive = sys.stdout.isatty()
            if interactive:
                print("\nthe inbox keeps serving its page until you press Ctrl-C")
            print(f"\nopen {inbox.url}/ to see the errors", flush=True)
            if interactive:
                serve_until_interrupted()
    return status


def show_what_arrived(db: str) -> int:
    banner("events the inbox stored  (python -m posthog_exceptions events)")
    cli(["events", "--db", db, "--limit", "0"])
    banner("exceptions grouped by fingerprint  (python -m posthog_exceptions issues)")
    cli(["issues", "--db", db])
    crash = next(
        i for i in load_issues(db) if i.latest["properties"].get("$exception_level") == "fatal"
    )
    banner(f"python -m posthog_exceptions show {crash.fingerprint[:12]}")
    return cli(["show", crash.fingerprint[:12], "--db", db])


def serve_until_interrupted() -> None:
    try:
        while True:  # the inbox serves in its own thread; Ctrl-C ends the sleep
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\ninbox stopped")


if __name__ == "__main__":
    sys.exit(main())
