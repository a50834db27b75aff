"""One benchmark measurement in this (fresh) process; prints one JSON result line.

    .bench-venv/bin/python bench/scenarios.py SCENARIO LIBRARY VARIANT --url URL [options]

``bench/run.py`` starts one of these per measurement, against its sink (``bench/sink.py``).
LIBRARY is ``ours`` (posthog_exceptions), ``posthog`` or ``sentry``. VARIANT is
``default`` (the library's default options) or one switch on top of them: ``locals``
(ours, posthog: send local variables), ``nolocals`` (sentry, whose default sends them),
``unlimited`` (ours: its per-fingerprint rate limit off; ``locals`` has it off too).
Before measuring, the process captures one exception and flushes it (lazy imports, the
first connection), then resets the sink, which also sets the sink's behaviour
(``--mode``); so the sink counts only measured events.

The exceptions are raised through this file's functions, so every library finds
source lines to send. posthog and sentry-sdk are imported only inside the adapters:
the type checker runs where they are not installed.
"""

from __future__ import annotations

import argparse
import array
import http.client
import importlib
import json
import math
import resource
import statistics
import sys
import threading
import time
import timeit
from typing import Any, Callable
from urllib.parse import urlsplit

API_KEY = "phc_bench"
LIBRARIES = ("ours", "posthog", "sentry")
MODULES = {"ours": "posthog_exceptions", "posthog": "posthog", "sentry": "sentry_sdk"}
VARIANTS = {
    "ours": ("unlimited", "locals", "default"),
    "posthog": ("default", "locals"),
    "sentry": ("default", "nolocals"),
}


# ----------------------------------------------------------------- adapters


class Adapter:
    """One library set up with its default options (plus the variant's switch)."""

    library = ""

    def capture_exception(self, exc: BaseException) -> Any:
        raise NotImplementedError

    def flush(self, timeout: float) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        raise NotImplementedError

    def dropped(self) -> dict[str, int] | None:
        """Events the library says it dropped, by reason; None when it does not say."""
        return None

    def decorator(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """The library's decorator for a function whose exceptions it should capture."""
        raise NotImplementedError


class Ours(Adapter):
    """``posthog_exceptions.init(api_key, host=...)``. ``default`` is exactly that, with its
    per-fingerprint rate limit (every exception here is of one group, so all but the first
    ~50 are suppressed); ``unlimited`` and ``locals`` switch the limit off
    (``rate_limit=False``), so they do the full work for every event, as the peers do."""

    library = "ours"

    def __init__(self, url: str, variant: str) -> None:
        import posthog_exceptions

        self._module = posthog_exceptions
        options: dict[str, Any] = {}
        if variant == "locals":
            options["capture_locals"] = True
        has_limit = hasattr(posthog_exceptions.Options, "rate_limit")
        if variant in ("unlimited", "locals") and has_limit:
            options["rate_limit"] = False
        self.client = posthog_exceptions.init(API_KEY, host=url, **options)

    def capture_exception(self, exc: BaseException) -> Any:
        return self.client.capture_exception(exc)

    def flush(self, timeout: float) -> None:
        self.client.flush(timeout)

    def shutdown(self) -> None:
        self.client.shutdown()

    def dropped(self) -> dict[str, int] | None:
        return {k: v for k, v in self.client.stats()["dropped"].items() if v}

    def decorator(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._module.capture_exceptions


class PostHog(Adapter):
    """``posthog.Posthog(api_key, host=...)``. It counts no drops: it logs each one
    (``queue is full``), and the driver counts those lines on stderr."""

    library = "posthog"

    def __init__(self, url: str, variant: str) -> None:
        posthog: Any = importlib.import_module("posthog")
        self._module = posthog
        self.client: Any = posthog.Posthog(
            API_KEY, host=url, capture_exception_code_variables=variant == "locals"
        )

    def capture_exception(self, exc: BaseException) -> Any:
        return self.client.capture_exception(exc)

    def flush(self, timeout: float) -> None:
        self.client.flush(timeout_seconds=timeout)

    def shutdown(self) -> None:
        self.client.shutdown()

    def decorator(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._module.scoped()  # type: ignore[no-any-return]


class Sentry(Adapter):
    """``sentry_sdk.init(dsn=...)``. Its drops are what its transport records for its
    client reports (``record_lost_event``); a counting wrapper observes those calls."""

    library = "sentry"

    def __init__(self, url: str, variant: str) -> None:
        sentry_sdk: Any = importlib.import_module("sentry_sdk")
        self._module = sentry_sdk
        port = urlsplit(url).port
        options: dict[str, Any] = {"dsn": f"http://public@127.0.0.1:{port}/1"}
        if variant == "nolocals":
            options["include_local_variables"] = False
        sentry_sdk.init(**options)
        self._lost: dict[str, int] = {}
        transport = sentry_sdk.get_client().transport
        record = transport.record_lost_event

        def counting(reason: str, data_category: Any = None, item: Any = None, **kw: Any) -> Any:
            category = item.data_category if item is not None else data_category
            if category == "error":
                self._lost[reason] = self._lost.get(reason, 0) + 1
            return record(reason, data_category, item, **kw)

        transport.record_lost_event = counting

    def capture_exception(self, exc: BaseException) -> Any:
        return self._module.capture_exception(exc)

    def flush(self, timeout: float) -> None:
        self._module.flush(timeout)

    def shutdown(self) -> None:
        self._module.get_client().close()

    def dropped(self) -> dict[str, int] | None:
        return dict(self._lost)

    def decorator(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._module.trace  # type: ignore[no-any-return]


def make_adapter(library: str, variant: str, url: str) -> Adapter:
    if variant not in VARIANTS[library]:
        raise SystemExit(f"{library} has no variant {variant!r}; one of {VARIANTS[library]}")
    factory: dict[str, Callable[[str, str], Adapter]] = {
        "ours": Ours,
        "posthog": PostHog,
        "sentry": Sentry,
    }
    return factory[library](url, variant)


# ----------------------------------------------------------------- helpers


def raise_at(depth: int, order_id: int = 42) -> None:
    """Raise a ValueError ``depth`` frames below this call; each frame has a few locals."""
    customer = {"id": order_id, "name": "Ada", "tags": ["vip", "eu"]}
    note = f"order {order_id} at depth {depth}"
    if depth <= 1:
        raise ValueError(f"order {order_id} failed: {note} for {customer['name']}")
    raise_at(depth - 1, order_id)


def make_exception(depth: int, order_id: int = 42) -> BaseException:
    """A raised exception whose traceback is ``depth`` frames of :func:`raise_at` (+1)."""
    try:
        raise_at(depth, order_id)
    except ValueError as exc:
        return exc
    raise AssertionError("raise_at did not raise")


def rss_kib() -> int:
    """Peak resident set size of this process so far, in KiB.

    On Linux, ``VmHWM`` from ``/proc/self/status``: ``ru_maxrss`` is no good there, since
    a process started by fork and exec begins with its parent's peak (the driver's, some
    60 MiB), which hides any growth below it. Elsewhere ``getrusage().ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def sink_reset(url: str, mode: str, delay: float) -> None:
    """Zero the sink's counters and set its behaviour (http.client: no proxy settings)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        body = json.dumps({"mode": mode, "delay": delay})
        conn.request("POST", "/_reset", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
    finally:
        conn.close()


def warm_up(adapter: Adapter, args: argparse.Namespace) -> None:
    """One capture and a flush (lazy imports, first connection), then the sink's reset."""
    adapter.capture_exception(make_exception(3))
    adapter.flush(30)
    sink_reset(args.url, args.mode, args.delay)


def capture_ready(args: argparse.Namespace) -> tuple[Adapter, int]:
    """The library set up and warmed up, and two untimed captures at ``--depth`` (the
    first captures at a depth read its source lines)."""
    sys.setrecursionlimit(5000)
    adapter = make_adapter(args.library, args.variant, args.url)
    warm_up(adapter, args)
    for _ in range(2):
        adapter.capture_exception(make_exception(args.depth))
    return adapter, args.depth


def percentile(sorted_values: list[int], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return float(sorted_values[index])


# ----------------------------------------------------------------- scenarios


def scenario_init(args: argparse.Namespace) -> dict[str, Any]:
    """Time of the init / Client construction, the module already imported."""
    importlib.import_module(MODULES[args.library])
    started = time.perf_counter()
    make_adapter(args.library, args.variant, args.url)
    return {"init_ms": (time.perf_counter() - started) * 1e3}


def f(x: int) -> int:
    return x + 1


def hand_written(fn: Callable[[int], int]) -> Callable[[int], int]:
    def wrapper(x: int) -> int:
        try:
            return fn(x)
        except Exception:
            raise

    return wrapper


def scenario_happy_path(args: argparse.Namespace) -> dict[str, Any]:
    """ns per call: bare, hand-written try/except, the library's decorator (best of 5)."""
    adapter = make_adapter(args.library, args.variant, args.url)
    candidates: dict[str, Callable[[int], int]] = {
        "bare": f,
        "try_except": hand_written(f),
        "decorated": adapter.decorator()(f),
    }
    for name, fn in candidates.items():
        if fn(1) != 2:
            raise AssertionError(f"{name} returned {fn(1)!r}")
    number = args.n or 1_000_000
    best = dict.fromkeys(candidates, math.inf)
    for _ in range(5):  # interleaved, so drift hits the three alike
        for name, fn in candidates.items():
            seconds = timeit.Timer("fn(1)", globals={"fn": fn}).timeit(number)
            best[name] = min(best[name], seconds / number * 1e9)
    return {f"{name}_ns": value for name, value in best.items()} | {"calls": number}


def scenario_capture(args: argparse.Namespace) -> dict[str, Any]:
    """µs per capture_exception() on the calling thread at a given stack depth.

    Batches of exceptions are built first, then only their captures are timed;
    batches repeat until at least ``--seconds`` of captures and 20 captures."""
    adapter, depth = capture_ready(args)
    probe = [make_exception(depth) for _ in range(3)]
    started = time.perf_counter()
    for exc in probe:
        adapter.capture_exception(exc)
    estimate = max((time.perf_counter() - started) / len(probe), 1e-6)
    batch_size = int(min(max(math.ceil(args.seconds / estimate), 20), 2000))
    timed = cpu = 0.0
    count = 0
    while timed < args.seconds or count < 20:
        batch = [make_exception(depth, order_id=count + i) for i in range(batch_size)]
        cpu_started = time.thread_time()
        started = time.perf_counter()
        for exc in batch:
            adapter.capture_exception(exc)
        timed += time.perf_counter() - started
        cpu += time.thread_time() - cpu_started
        count += len(batch)
        del batch
    result: dict[str, Any] = {
        "us_per_capture": timed / count * 1e6,
        "cpu_us_per_capture": cpu / count * 1e6,
        "captures": count,
        "seconds": timed,
    }
    adapter.flush(60)
    result["dropped"] = adapter.dropped()
    return result


def scenario_sporadic(args: argparse.Namespace) -> dict[str, Any]:
    """µs per capture_exception() on the calling thread when errors are sporadic.

    ``--n`` captures, each after the process has slept ``--gap`` seconds (the idle time
    between errors in a real program, in which the library's delivery thread sends the
    previous event and the caches cool down), each exception raised just before its
    capture. Only the capture is timed; every sample is kept for the median and p90."""
    adapter, depth = capture_ready(args)
    adapter.flush(30)
    samples: list[int] = []
    cpu: list[float] = []
    for i in range(args.n or 30):
        time.sleep(args.gap)  # the idle gap is what is measured, not a synchronisation
        exc = make_exception(depth, order_id=i)
        cpu_started = time.thread_time()
        started = time.perf_counter_ns()
        adapter.capture_exception(exc)
        samples.append(time.perf_counter_ns() - started)
        cpu.append(time.thread_time() - cpu_started)
        del exc
    adapter.flush(60)
    ordered = sorted(samples)
    return {
        "us_median": statistics.median(ordered) / 1e3,
        "us_p90": percentile(ordered, 0.9) / 1e3,
        "cpu_us_median": statistics.median(cpu) * 1e6,
        "captures": len(samples),
        "dropped": adapter.dropped(),
    }


def scenario_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """``--n`` exceptions (depth 10) captured from ``--threads`` threads, then flush(300)."""
    adapter = make_adapter(args.library, args.variant, args.url)
    warm_up(adapter, args)
    threads = args.threads
    per_thread = args.n // threads
    accepted = [0] * threads
    gate = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        gate.wait()
        ok = 0
        for i in range(per_thread):
            if adapter.capture_exception(make_exception(10, order_id=i)) is not None:
                ok += 1
        accepted[index] = ok

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    gate.wait()
    t_start = time.monotonic()
    for worker in workers:
        worker.join()
    t_captured = time.monotonic()
    adapter.flush(300)
    t_flushed = time.monotonic()
    return {
        "captured": per_thread * threads,
        "accepted": sum(accepted),
        "t_start": t_start,
        "t_captured": t_captured,
        "t_flushed": t_flushed,
        "dropped": adapter.dropped(),
    }


def _timed_captures(adapter: Adapter, count: int, depth: int) -> tuple[list[int], int]:
    """ns per capture, and how many captures the library accepted (returned an id).

    The durations are kept in an ``array`` (8 bytes each) until the end: a list of
    100,000 ints would add some 4 MiB of this benchmark's own to the measured RSS."""
    durations = array.array("q", bytes(8 * count))
    clock = time.perf_counter_ns
    accepted = 0
    for i in range(count):
        exc = make_exception(depth, order_id=i)
        started = clock()
        uid = adapter.capture_exception(exc)
        durations[i] = clock() - started
        accepted += uid is not None
    return durations.tolist(), accepted


def scenario_flood(args: argparse.Namespace) -> dict[str, Any]:
    """``--n`` shallow captures against a slow (or hung) sink: caller latency, memory, drops.

    ``--exit``: end the process right after the captures, with no flush (flood_exit)."""
    adapter = make_adapter(args.library, args.variant, args.url)
    warm_up(adapter, args)
    rss_before = rss_kib()
    t_start = time.monotonic()
    durations, accepted = _timed_captures(adapter, args.n, 3)
    t_captured = time.monotonic()
    rss_after = rss_kib()
    durations.sort()
    result: dict[str, Any] = {
        "captured": args.n,
        "accepted": accepted,
        "p50_us": percentile(durations, 0.50) / 1e3,
        "p99_us": percentile(durations, 0.99) / 1e3,
        "max_us": durations[-1] / 1e3,
        "total_s": sum(durations) / 1e9,
        "rss_growth_mib": (rss_after - rss_before) / 1024,
        "rss_setup_mib": rss_before / 1024,
        "rss_peak_mib": rss_after / 1024,
        "dropped": adapter.dropped(),
        "t_start": t_start,
        "t_captured": t_captured,
    }
    if args.flush is not None:
        adapter.flush(args.flush)
        result["t_flushed"] = time.monotonic()
        result["rss_growth_after_flush_mib"] = (rss_kib() - rss_before) / 1024
        result["dropped_after_flush"] = adapter.dropped()
    result["t_end"] = time.monotonic()
    return result


def scenario_wire(args: argparse.Namespace) -> dict[str, Any]:
    """``--n`` depth-10 exceptions captured, then flush: the sink measures the bytes."""
    adapter = make_adapter(args.library, args.variant, args.url)
    warm_up(adapter, args)
    accepted = 0
    for i in range(args.n):
        if adapter.capture_exception(make_exception(10, order_id=i)) is not None:
            accepted += 1
    adapter.flush(120)
    return {"captured": args.n, "accepted": accepted, "dropped": adapter.dropped()}


def scenario_profile(args: argparse.Namespace) -> dict[str, Any]:
    """pyinstrument's profile of ``--n`` captures at ``--depth`` (ours, by default)."""
    sys.setrecursionlimit(5000)
    profiler_class: Any = importlib.import_module("pyinstrument").Profiler
    adapter = make_adapter(args.library, args.variant, args.url)
    warm_up(adapter, args)
    for _ in range(2):
        adapter.capture_exception(make_exception(args.depth))
    batch = [make_exception(args.depth, order_id=i) for i in range(args.n)]
    profiler = profiler_class(interval=0.0002)
    started = time.perf_counter()
    profiler.start()
    for exc in batch:
        adapter.capture_exception(exc)
    profiler.stop()
    seconds = time.perf_counter() - started
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    adapter.flush(60)
    return {"us_per_capture": seconds / len(batch) * 1e6, "captures": len(batch), "text": text}


SCENARIOS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "init": scenario_init,
    "happy_path": scenario_happy_path,
    "capture": scenario_capture,
    "sporadic": scenario_sporadic,
    "throughput": scenario_throughput,
    "flood": scenario_flood,
    "wire": scenario_wire,
    "profile": scenario_profile,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("library", choices=LIBRARIES)
    parser.add_argument("variant")
    parser.add_argument("--url", required=True, help="the sink, http://127.0.0.1:PORT")
    parser.add_argument("--mode", default="normal", choices=("normal", "delay", "hung"))
    parser.add_argument("--delay", type=float, default=0.0, help="the sink's delay (delay mode)")
    parser.add_argument("--n", type=int, default=0, help="how many captures or calls")
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0, help="capture: time to measure")
    parser.add_argument("--gap", type=float, default=0.01, help="sporadic: idle seconds between")
    parser.add_argument("--flush", type=float, default=None, help="flood: flush timeout")
    args = parser.parse_args(argv)
    if args.variant not in VARIANTS[args.library]:
        parser.error(f"{args.library} has no variant {args.variant!r}")
    result = SCENARIOS[args.scenario](args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
