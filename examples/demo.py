"""The demo behind `make demo`: no PostHog account, no network.

1. Starts the embedded local inbox (a PostHog-compatible capture endpoint) on a free
   port, storing events in a fresh SQLite file.
2. Runs the example programs against it, as a user would: events and a handled error,
   a decorator, a crashing thread, and an unhandled crash — twice, with different
   order ids, to show that both land in one group.
3. Prints what the inbox received, the exceptions grouped by fingerprint, and the
   crash group's latest event as a traceback — the same output as
   `python -m posthog_exceptions events | issues | show FINGERPRINT`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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
        banner("events the inbox stored  (python -m posthog_exceptions events)")
        cli(["events", "--db", db, "--limit", "0"])
        banner("exceptions grouped by fingerprint  (python -m posthog_exceptions issues)")
        cli(["issues", "--db", db])
        crash = next(
            i for i in load_issues(db) if i.latest["properties"].get("$exception_level") == "fatal"
        )
        banner(f"python -m posthog_exceptions show {crash.fingerprint[:12]}")
        return cli(["show", crash.fingerprint[:12], "--db", db])


if __name__ == "__main__":
    sys.exit(main())
