"""``python -m posthog_exceptions flush-spool``: send what a disk spool holds, now.

Each spool file names the project key and host its events belong to; the command
sends every file with a short-lived worker for that key and host (same retry
policy, same claim-by-rename, so it can run while applications use the spool).
Exit status 0 when the spool is empty afterwards, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING

from .spool import Spool, event_count

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "flush-spool",
        help="send the events waiting in a disk spool (spool_dir=)",
        description="Send every spooled event to the host and project it was captured for.",
    )
    parser.add_argument("--dir", required=True, help="the spool directory (the spool_dir option)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="give up after this many seconds (default 120)"
    )
    parser.set_defaults(handler=run_flush_spool)


def run_flush_spool(args: argparse.Namespace) -> int:
    from posthog_exceptions._config import build_options
    from posthog_exceptions._stats import Counters

    from .worker import Worker

    directory = os.path.abspath(args.dir)
    spool = Spool(directory, max_bytes=1 << 62)
    pending = spool.pending()
    if not pending:
        print(f"the spool {directory} is empty")
        return 0
    deadline = time.monotonic() + args.timeout
    total = sum(event_count(path) for path in pending)
    print(f"sending {total} events from {len(pending)} files in {directory}", flush=True)
    destinations, unreadable = _destinations(pending)
    for path in unreadable:
        claimed = spool.claim(path)
        if claimed is not None:
            spool.quarantine(claimed)
            print(f"skipped an unreadable spool file: {os.path.basename(path)}", file=sys.stderr)
    for api_key, host in sorted(destinations):
        try:
            options = build_options(api_key, host, {"spool_dir": directory, "sync_mode": True})
        except (TypeError, ValueError) as exc:
            print(f"skipping files for {host}: {exc}", file=sys.stderr)
            continue
        counters = Counters()
        worker = Worker(options, counters)
        try:
            left = worker.replay_spool(deadline)
        finally:
            worker.shutdown(0)
        print(f"{host}: sent {counters.sent}, still undelivered {left}")
    remaining = sum(event_count(path) for path in spool.pending())
    if remaining:
        print(f"{remaining} events are still in the spool", file=sys.stderr)
        return 1
    print("the spool is empty")
    return 0


def _destinations(paths: list[str]) -> tuple[set[tuple[str, str]], list[str]]:
    """The (key, host) pairs the files belong to, and the files whose header is unreadable."""
    found = set()
    unreadable = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                header = json.loads(handle.readline())
            found.add((str(header["api_key"]), str(header["host"])))
        except (ValueError, KeyError, TypeError):
            unreadable.append(path)
        except OSError:
            continue  # taken by another process meanwhile
    return found, unreadable
