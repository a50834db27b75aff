"""A host program that re-enters the library where it hurts: signal handlers, garbage-collector
finalisers and its own logging handlers calling back into a capture that is under way.

Each case runs in a subprocess with a timeout that fails it, and counts what arrived."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import API_KEY
from .recording_server import Answer, RecordingServer
from .test_process import run_python

TIMEOUT = 60


def _run(body: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "host.py"
    script.write_text(body, encoding="utf-8")
    try:
        return run_python(script, *args, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - the failure being tested
        raise AssertionError(f"the host program hung: {exc.stdout!r} {exc.stderr!r}") from None


def _stats(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_signal_handler_that_captures_never_deadlocks_the_program(
    server: RecordingServer, tmp_path: Path
) -> None:
    result = _run(
        f"""
import json, signal, sys, posthog_exceptions
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], rate_limit=False)
fired = []  # list.append, one C call: a handler interrupting a handler counts too
def on_alarm(signum, frame):
    fired.append(1)
    posthog_exceptions.capture("from-signal", distinct_id="u")
    try:
        raise ValueError("raised in a signal handler")
    except ValueError:
        posthog_exceptions.capture_exception()
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0003)
for i in range(3000):
    posthog_exceptions.capture("main", distinct_id="u", properties={{"i": i}})
    try:
        raise KeyError(i)
    except KeyError:
        posthog_exceptions.capture_exception()
signal.setitimer(signal.ITIMER_REAL, 0)
assert client.flush(30)
stats = client.stats()
print(json.dumps({{"fired": len(fired), **stats}}))
""",
        server.url,
        tmp_path=tmp_path,
    )
    stats = _stats(result)
    dropped = stats["dropped"]
    assert isinstance(dropped, dict)
    assert isinstance(stats["fired"], int) and stats["fired"] > 20
    # every call is accounted for: sent, or dropped as re-entrant (never lost silently)
    calls = 2 * 3000 + 2 * stats["fired"]
    assert stats["queued"] + dropped["reentrant"] == calls
    assert stats["sent"] == stats["queued"]
    assert len(server.events) == stats["sent"]
    assert sum(1 for e in server.events if e["event"] == "main") == 3000


def test_finalisers_that_raise_or_capture_never_deadlock_the_program(
    server: RecordingServer, tmp_path: Path
) -> None:
    """Cyclic garbage under the default GC thresholds: the collector runs in the middle
    of captures, and each finaliser raises (``sys.unraisablehook``) or captures.

    The delivery thread has sent a first event before the garbage starts: on Python 3.9
    the default unraisable hook can block for good when the collector runs a raising
    finaliser in the middle of a thread's import of a C extension (``_csv``, which
    ``requests`` imports) — with or without this library installed."""
    result = _run(
        f"""
import gc, json, sys, threading, time, posthog_exceptions
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], rate_limit=False)
finalised = []  # (the collector keeps its default thresholds; list.append: one C call)
all_finalised = threading.Event()
posthog_exceptions.capture("warm-up", distinct_id="u")
assert client.flush(30)
class Raises:
    def __init__(self):
        self.me = self
    def __del__(self):
        finalised.append(1)
        if len(finalised) == 6000:
            all_finalised.set()
        raise ValueError("raised in __del__")
class Captures:
    def __init__(self):
        self.me = self
    def __del__(self):
        finalised.append(1)
        posthog_exceptions.capture("from-finaliser", distinct_id="u")
        if len(finalised) == 6000:
            all_finalised.set()
for i in range(3000):
    Raises(), Captures()
    posthog_exceptions.capture("main", distinct_id="u", properties={{"i": i}})
    try:
        raise KeyError(i)
    except KeyError:
        posthog_exceptions.capture_exception()
deadline = time.monotonic() + 30
while not all_finalised.is_set() and time.monotonic() < deadline:
    gc.collect()  # (a no-op while another thread's collection runs its finalisers)
    all_finalised.wait(0.001)  # (the GIL is left to the delivery thread meanwhile)
assert client.flush(30)
print(json.dumps({{"finalised": len(finalised), **client.stats()}}))
""",
        server.url,
        tmp_path=tmp_path,
    )
    stats = _stats(result)
    dropped = stats["dropped"]
    assert isinstance(dropped, dict) and isinstance(stats["finalised"], int)
    assert stats["finalised"] == 6000, stats
    calls = 2 * 3000 + stats["finalised"] + 1
    assert stats["queued"] + dropped["reentrant"] == calls, stats
    assert sum(1 for e in server.events if e["event"] == "main") == 3000
    assert len(server.events) == stats["sent"] == stats["queued"], (len(server.events), stats)


def test_an_app_log_handler_that_forwards_warnings_through_capture_never_deadlocks(
    server: RecordingServer, tmp_path: Path
) -> None:
    """The collector is down and the queue fills: the library logs "the event queue is
    full", the application's handler forwards that warning through ``capture()``."""
    server.answer(200, delay=30)  # the first request hangs: the queue fills behind it
    result = _run(
        f"""
import json, logging, sys, posthog_exceptions
class Forward(logging.Handler):
    def emit(self, record):
        posthog_exceptions.capture("log", distinct_id="u", properties={{"m": record.getMessage()}})
logging.getLogger().addHandler(Forward(logging.WARNING))
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], max_queue_size=10,
                                 shutdown_timeout=0.5)
for i in range(200):
    posthog_exceptions.capture("main", distinct_id="u", properties={{"i": i}})
print(json.dumps(client.stats()))
""",
        server.url,
        tmp_path=tmp_path,
    )
    stats = _stats(result)
    dropped, queued = stats["dropped"], stats["queued"]
    assert isinstance(dropped, dict) and isinstance(queued, int)
    assert dropped["queue_full"] >= 150
    assert queued + dropped["queue_full"] == 200  # each of the program's own captures
    assert dropped["reentrant"] >= 1  # the forwarded warning: refused, not waited for


def test_capture_near_the_recursion_limit_never_raises_and_still_reports(
    server: RecordingServer, tmp_path: Path
) -> None:
    result = _run(
        f"""
import json, sys, posthog_exceptions
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], rate_limit=False)
limit = sys.getrecursionlimit()

def depth():
    frame, n = sys._getframe(1), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n

def capture_at(room):
    def down(n):
        if n <= 0:
            try:
                raise ValueError(f"deep, {{room}} frames from the limit")
            except ValueError:
                return posthog_exceptions.capture_exception()
        return down(n - 1)
    return down(limit - depth() - room)

escaped, sent = [], 0
for room in range(4, 120):
    try:
        sent += capture_at(room) is not None
    except RecursionError:
        escaped.append(room)
assert sys.getrecursionlimit() == limit
assert client.flush(30)
print(json.dumps({{"escaped": escaped, "sent": sent, **client.stats()}}))
""",
        server.url,
        tmp_path=tmp_path,
    )
    stats = _stats(result)
    assert stats["escaped"] == []
    assert stats["sent"] == 116  # the second try, with room to spare, reports each one
    assert len(server.events) == 116


def test_memory_errors_inside_a_capture_never_reach_the_program(
    server: RecordingServer, tmp_path: Path
) -> None:
    result = _run(
        f"""
import json, logging, sys, posthog_exceptions
class Starved(Exception):
    def __str__(self):
        raise MemoryError
class Huge:
    def __repr__(self):
        raise MemoryError
def before_send(event):
    if event["properties"].get("starve_before_send"):
        raise MemoryError
    return event
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], before_send=before_send,
                                 capture_locals=True)
results = []
results.append(posthog_exceptions.capture_exception(Starved()))
results.append(posthog_exceptions.capture("e", distinct_id="u", properties={{"x": Huge()}}))
results.append(posthog_exceptions.capture("e", distinct_id="u",
                                          properties={{"starve_before_send": True}}))
def broken_error(self, *args, **kwargs):
    raise MemoryError
logging.Logger.error = broken_error  # even the library's own error log cannot be written
results.append(client._capture(None, ValueError("the kind is missing")))
assert client.flush(30)
print(json.dumps({{"results": [r is not None for r in results], **client.stats()}}))
""",
        server.url,
        tmp_path=tmp_path,
    )
    stats = _stats(result)
    assert stats["results"] == [True, True, False, False]
    dropped = stats["dropped"]
    assert isinstance(dropped, dict)
    assert dropped["before_send_error"] == 1
    assert dropped["internal_error"] == 1
    assert len(server.events) == 2


@pytest.mark.skipif(
    not hasattr(os, "mkfifo") or not os.path.exists("/proc/self/status"),
    reason="needs FIFOs and /proc (Linux)",
)
def test_code_named_after_a_fifo_a_device_or_a_huge_file_is_captured_at_once(
    server: RecordingServer, tmp_path: Path
) -> None:
    """``co_filename`` is whatever the compiler was told: a FIFO without a writer,
    ``/dev/zero``, a 1 GiB (sparse) file, a relative name whose ``sys.path`` match is a
    FIFO. Each capture returns at once, without context lines, and memory stays low."""

    fifo = tmp_path / "template.py"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.py"
    with open(huge, "wb") as handle:
        handle.truncate(1 << 30)
    library = tmp_path / "lib"
    library.mkdir()
    os.mkfifo(library / "generated.py")
    regular = tmp_path / "regular.py"
    regular.write_text("def boom(name):\n    raise ValueError(name)\n", encoding="utf-8")
    result = _run(
        f"""
import json, sys, time, posthog_exceptions
sys.path.insert(0, sys.argv[2])
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], rate_limit=False)
took = {{}}
for name in sys.argv[3:] + ["/dev/zero", "generated.py", "<template>"]:
    namespace = {{}}
    exec(compile("def boom(name):\\n    raise ValueError(name)\\n", name, "exec"), namespace)
    started = time.monotonic()
    try:
        namespace["boom"](name)
    except ValueError:
        posthog_exceptions.capture_exception()
    took[name] = time.monotonic() - started
assert client.flush(30)
# VmHWM, this process's own peak (ru_maxrss would count the forking parent's pages too)
with open("/proc/self/status") as status:
    peak = [line for line in status if line.startswith("VmHWM:")][0]
print(json.dumps({{"took": took, "rss_mib": int(peak.split()[1]) / 1024}}))
""",
        server.url,
        str(library),
        str(fifo),
        str(huge),
        str(regular),
        tmp_path=tmp_path,
    )
    stats = _stats(result)
    took = stats["took"]
    assert isinstance(took, dict) and len(took) == 6
    assert max(took.values()) < 2.0, took
    rss = stats["rss_mib"]
    assert isinstance(rss, float) and rss < 200, rss
    crashes = {
        e["properties"]["$exception_list"][0]["value"]: e["properties"]["$exception_list"][0][
            "stacktrace"
        ]["frames"][-1]
        for e in server.events
    }
    assert set(crashes) == set(took)
    assert crashes[str(regular)].get("context_line") == "    raise ValueError(name)", crashes
    for name, crash in crashes.items():
        if name != str(regular):
            assert "context_line" not in crash, name


def _hung_server() -> RecordingServer:
    """A server that reads each request and never answers it (until stopped)."""
    hung = RecordingServer()
    hung.responder = lambda request: Answer(200, delay=120)
    return hung


def test_sync_mode_against_a_hung_collector_waits_at_most_shutdown_timeout(
    tmp_path: Path,
) -> None:
    with _hung_server() as hung:
        result = _run(
            f"""
import json, sys, time, posthog_exceptions
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], sync_mode=True,
                                 shutdown_timeout=1.0, timeout=10)
took = []
for i in range(3):
    started = time.monotonic()
    posthog_exceptions.capture("e", distinct_id="u", properties={{"i": i}})
    took.append(time.monotonic() - started)
print(json.dumps({{"took": took, **client.stats()}}))
""",
            hung.url,
            tmp_path=tmp_path,
        )
    stats = _stats(result)
    took, dropped = stats["took"], stats["dropped"]
    assert isinstance(took, list) and isinstance(dropped, dict)
    assert max(took) < 2.0, took  # one capture blocked about three minutes before
    assert dropped["timed_out"] == 3


def test_an_uncaught_error_with_a_hung_collector_exits_within_shutdown_timeout(
    tmp_path: Path,
) -> None:
    """The fatal-error flush and the exit-time flush share one budget (they took one each),
    and the traceback is printed before the flush starts."""
    import time

    with _hung_server() as hung:
        script = tmp_path / "crash.py"
        script.write_text(
            f"""
import sys, time, posthog_exceptions
def printed_at(*args):
    sys.__excepthook__(*args)
    print(f"traceback printed {{time.monotonic()}}", file=sys.stderr, flush=True)
sys.excepthook = printed_at
posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], shutdown_timeout=2.0, timeout=10)
raise RuntimeError("the program dies")
""",
            encoding="utf-8",
        )
        started = time.monotonic()
        result = run_python(script, hung.url, timeout=TIMEOUT)
        ended = time.monotonic()
    assert result.returncode == 1
    assert "RuntimeError: the program dies" in result.stderr
    printed = float(result.stderr.split("traceback printed ")[1].split()[0])
    assert printed - started < 1.5  # before the flush, not after its 2 s
    assert ended - started < 3.5, ended - started  # one budget of 2 s, not two


def test_the_batch_in_flight_when_the_exit_runs_out_of_time_is_spooled(
    tmp_path: Path,
) -> None:
    """``timeout`` (10 s) is longer than ``shutdown_timeout`` (1 s): the request still on
    the wire at the exit's deadline ends there, and its events go to the spool."""
    spool = tmp_path / "spool"
    with _hung_server() as hung:
        result = _run(
            f"""
import sys, posthog_exceptions
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], spool_dir=sys.argv[2],
                                 shutdown_timeout=1.0, timeout=10)
for i in range(5):
    posthog_exceptions.capture("e", distinct_id="u", properties={{"i": i}})
while not client._worker._sender.in_request:  # the batch is on the wire
    pass
""",
            hung.url,
            str(spool),
            tmp_path=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        hung.wait_for_arrivals(1)
    from posthog_exceptions._delivery.spool import Spool

    files = Spool(str(spool), 1 << 20).pending()
    spooled = [
        json.loads(line) for path in files for line in Path(path).read_bytes().splitlines()[1:]
    ]
    assert sorted(e["properties"]["i"] for e in spooled) == [0, 1, 2, 3, 4]
