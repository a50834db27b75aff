"""Chaos delivery, the long form: does any event get lost through a misbehaving network?

    .venv/bin/python bench/chaos.py [--events 10000] [--threads 4] [--seed 1] [--seconds 60]

Starts the chaos server of ``tests/chaos_server.py`` on 127.0.0.1 (server errors,
429s with and without ``Retry-After``, 413s, resets, stalls longer than the client's
timeout, responses lost after the store, and outages of a few seconds during which
connections are refused), and a ``Client`` with a short timeout and enough retries to
ride the outages out. ``--threads`` producer threads capture ``--events`` events spread
over ``--seconds`` seconds, every fifth a ``capture_exception()`` of a raised exception;
every call is timed. Then ``flush()`` and ``shutdown()``, and a Markdown report for
bench/RESULTS.md. Exit status 1 when an event was lost (or never queued), a call
raised, or the flush ran out of time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.chaos_server

from tests.chaos_server import OUTAGE, ChaosServer, behaviour_table, produce

from posthog_exceptions import Client

CLIENT_TIMEOUT = 1.0
STALL_SECONDS = 2.0
MAX_RETRIES = 30
FLUSH_TIMEOUT = 900.0  # 30 retries at the 12.5 s backoff cap is 375 s for one batch
MAX_BATCH_EVENTS = 50
OUTAGE_EVERY = (40, 80)  # requests between outages
OUTAGE_DURATION = (2.0, 5.0)  # seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="spread the events over this long"
    )
    args = parser.parse_args(argv)

    began = time.monotonic()
    with ChaosServer(
        seed=args.seed,
        max_batch_events=MAX_BATCH_EVENTS,
        stall_seconds=STALL_SECONDS,
        outage_every=OUTAGE_EVERY,
        outage_duration=OUTAGE_DURATION,
    ) as server:
        client = Client(
            api_key="phc_chaos",
            host=server.url,
            timeout=CLIENT_TIMEOUT,
            max_retries=MAX_RETRIES,
            rate_limit=False,  # every exception shares one fingerprint; delivery is the point
        )
        load = produce(client, events=args.events, threads=args.threads, seconds=args.seconds)
        delivered = client.flush(timeout=FLUSH_TIMEOUT)
        shut_down = client.shutdown(timeout=10)
        stats = client.stats()
    wall = time.monotonic() - began

    sent = set(load.sent)
    received = server.received
    lost = sent - received
    counts = server.counts
    dropped = {reason: n for reason, n in stats["dropped"].items() if n}
    rows = [
        ("capture calls", f"{load.calls:,} ({load.exceptions:,} capture_exception)"),
        ("sent (uuids returned)", f"{len(sent):,}"),
        ("not queued (None returned)", f"{load.not_queued:,}"),
        ("received (unique)", f"{len(received):,}"),
        ("**lost** (sent - received)", f"**{len(lost):,}**"),
        (
            "duplicated",
            f"{server.duplicates:,} (bound: {server.lost_after_store_events:,} events "
            "in responses lost after the store)",
        ),
        ("calls that raised", f"{len(load.failures):,}"),
        ("retries (stats)", f"{stats['retried']:,}"),
        ("sent (stats)", f"{stats['sent']:,}"),
        ("dropped (stats)", ", ".join(f"{k}={v}" for k, v in dropped.items()) or "none"),
        ("server requests", f"{server.requests:,}"),
        ("server behaviours", behaviour_table(counts)),
        ("outages", f"{counts[OUTAGE]} ({server.down_seconds:.1f} s down)"),
        ("longest caller pause", f"{load.longest_pause * 1000:.1f} ms"),
        ("flush() / shutdown()", f"{delivered} / {shut_down}"),
        ("wall time", f"{wall:.1f} s (producing {load.seconds:.1f} s)"),
    ]
    print(
        f"Chaos delivery: Python {sys.version.split()[0]}, seed {args.seed}, "
        f"{args.events:,} events from {args.threads} threads over {args.seconds:g} s; "
        f"client timeout {CLIENT_TIMEOUT:g} s, max_retries {MAX_RETRIES}; stalls "
        f"{STALL_SECONDS:g} s, 413 above {MAX_BATCH_EVENTS} events, outages of "
        f"{OUTAGE_DURATION[0]:g}-{OUTAGE_DURATION[1]:g} s every {OUTAGE_EVERY[0]}-"
        f"{OUTAGE_EVERY[1]} requests\n"
    )
    print("| | |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    for failure in load.failures[:3]:
        print(f"\na call raised:\n{failure}", file=sys.stderr)
    if lost:
        print(f"\nlost, for example: {sorted(lost)[:5]}", file=sys.stderr)
    for error in server.handler_errors[:3]:
        print(f"\nchaos server error:\n{error}", file=sys.stderr)
    failed = lost or load.failures or load.not_queued or not delivered
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
