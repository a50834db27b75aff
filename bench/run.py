"""``make bench``: posthog-exceptions against posthog and sentry-sdk, side by side in one run.

    .bench-venv/bin/python bench/run.py [--quick] [--only SCENARIO ...] [--output PATH]

Every measurement runs in a fresh subprocess (``bench/scenarios.py``, one JSON line
out) against a local sink (``bench/sink.py``) that this driver serves on 127.0.0.1;
``import`` runs ``python -X importtime -c "import X"`` and ``python -c "import X"``
directly. Rounds rotate the order of the libraries (ours, posthog, sentry; then
posthog, sentry, ours; ...) so drift on the machine hits all of them alike. Each table
gives the median, min and max over the rounds; ratios are ours ÷ peer, of medians.
Writes ``bench/RESULTS.md`` (tables, ratios, the Targets table) and prints the tables.
Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sink import Sink

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS_PY = ROOT / "bench" / "scenarios.py"
LIBS = ("ours", "posthog", "sentry")
MODULES = {"ours": "posthog_exceptions", "posthog": "posthog", "sentry": "sentry_sdk"}
DISTRIBUTIONS = (
    "posthog-exceptions",
    "posthog",
    "sentry-sdk",
    "requests",
    "urllib3",
    "wrapt",
    "pyinstrument",
)
ALL_VARIANTS = {
    "ours": ("unlimited", "locals", "default"),
    "posthog": ("default", "locals"),
    "sentry": ("nolocals", "default"),
}
HEAVY_VARIANTS = {
    "ours": ("unlimited", "default"),
    "posthog": ("default",),
    "sentry": ("default",),
}
VARIANT_LABELS = {
    ("ours", "default"): "default (rate limit on)",
    ("ours", "unlimited"): "rate_limit=False",
    ("ours", "locals"): "capture_locals=True, rate_limit=False",
    ("posthog", "default"): "default (no locals)",
    ("posthog", "locals"): "capture_exception_code_variables=True",
    ("sentry", "default"): "default (locals on)",
    ("sentry", "nolocals"): "include_local_variables=False",
}
LOCALS_OFF = {"ours": "unlimited", "posthog": "default", "sentry": "nolocals"}
LOCALS_ON = {"ours": "locals", "posthog": "locals", "sentry": "default"}
ALL_DEFAULT = {"ours": "default", "posthog": "default", "sentry": "default"}
UNLIMITED_VS_DEFAULTS = {"ours": "unlimited", "posthog": "default", "sentry": "default"}
SINK_DELAY = 0.2
ORDER = ("import", "init", "happy_path", "capture", "sporadic", "throughput", "flood", "wire")
EXTRA_SCENARIOS = ("flood_exit", "hung")  # run with --only flood too


@dataclass(frozen=True)
class Sizes:
    cheap_rounds: int
    happy_rounds: int
    heavy_rounds: int
    happy_calls: int
    capture_seconds: float
    depths: tuple[int, ...]
    throughput_n: int
    flood_n: int
    flood_exit_n: int
    hung_n: int
    wire_n: int
    profile_n: int
    sporadic_rounds: int = 3
    sporadic_n: tuple[tuple[float, int], ...] = ((0.01, 40), (0.25, 12))
    """(idle gap in seconds, captures per process) of the sporadic scenario."""


FULL = Sizes(5, 3, 3, 1_000_000, 1.0, (10, 100, 1000), 20_000, 100_000, 10_000, 10_000, 200, 400)
QUICK = Sizes(
    2, 2, 1, 100_000, 0.2, (10, 100, 1000), 2_000, 3_000, 1_000, 1_000, 50, 100,
    sporadic_rounds=1, sporadic_n=((0.01, 15), (0.25, 5)),
)  # fmt: skip
SPORADIC_DEPTHS = (10, 100)


# ----------------------------------------------------------------- results


@dataclass
class Metric:
    """One line of a table: samples of one metric of one library and variant."""

    library: str
    variant: str
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


class Results:
    """Samples by (scenario, library, variant, metric), failures and notes by scenario."""

    def __init__(self) -> None:
        self.metrics: dict[tuple[str, str, str, str], Metric] = {}
        self.failures: dict[str, list[str]] = {}
        self.notes: dict[str, list[str]] = {}
        self.profile = ""
        self.chaos = ""
        self.chaos_passed: bool | None = None
        self.source = ""  # digest of the copy of src/posthog_exceptions that was measured
        self.git = ""
        self.durations: dict[str, float] = {}

    def add(
        self, scenario: str, lib: str, variant: str, name: str, unit: str, value: float
    ) -> None:
        key = (scenario, lib, variant, name)
        if key not in self.metrics:
            self.metrics[key] = Metric(lib, variant, name, unit)
        self.metrics[key].samples.append(float(value))

    def get(self, scenario: str, lib: str, variant: str, name: str) -> Metric | None:
        metric = self.metrics.get((scenario, lib, variant, name))
        return metric if metric is not None and metric.samples else None

    def median(self, scenario: str, lib: str, variant: str, name: str) -> float | None:
        metric = self.get(scenario, lib, variant, name)
        return None if metric is None else metric.median

    def of(self, scenario: str) -> list[Metric]:
        return [m for (s, *_), m in self.metrics.items() if s == scenario]

    def fail(self, scenario: str, message: str) -> None:
        self.failures.setdefault(scenario, []).append(message)
        print(f"  ! {message}", file=sys.stderr, flush=True)

    def note(self, scenario: str, message: str) -> None:
        if message not in self.notes.setdefault(scenario, []):
            self.notes[scenario].append(message)


# ----------------------------------------------------------------- processes


@dataclass
class Child:
    """What one subprocess left: its JSON result (or why there is none)."""

    result: dict[str, Any] | None
    error: str
    stderr: str
    elapsed: float
    exited_at: float


def child_env(snapshot: Path | None) -> dict[str, str]:
    """The environment without proxies or the libraries' own settings (they would win),
    importing posthog_exceptions from ``snapshot`` when given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("POSTHOG_", "SENTRY_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if snapshot is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(snapshot), env.get("PYTHONPATH")]))
    return env


def snapshot_source(into: Path) -> str:
    """Copy ``src/posthog_exceptions`` into ``into`` and check that it imports there.

    Others may be editing ``src/`` while the benchmark runs; every measurement of one run
    uses this copy, so all of them measure the same code. Returns a digest of the copy."""
    python = sys.executable
    for attempt in range(6):
        dest = into / "posthog_exceptions"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(
            ROOT / "src" / "posthog_exceptions",
            dest,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        digest = hashlib.sha256()
        for path in sorted(dest.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(dest)).encode() + b"\0" + path.read_bytes())
        check = "import posthog_exceptions as p; p.Client; p.init; print(p.__file__)"
        code, out, err, _, _ = run_process([python, "-c", check], 120, child_env(into))
        if code == 0 and out.strip().startswith(str(dest)):
            return digest.hexdigest()[:12]
        print(
            f"the copy of src/ does not import (attempt {attempt + 1}): "
            f"{(err.strip().splitlines() or [out.strip()])[-1]}",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(10)  # someone is mid-edit: take the copy again a little later
    raise SystemExit("src/posthog_exceptions does not import; no benchmark run")


def run_process(
    argv: Sequence[str], timeout: float, env: dict[str, str]
) -> tuple[int | None, str, str, float, float]:
    """Run a subprocess: (returncode or None on timeout, stdout, stderr, seconds, end time)."""
    with tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err_file,
        )
        code: int | None
        try:
            out, _ = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            code = None
        elapsed = time.perf_counter() - started
        exited_at = time.monotonic()
        err_file.seek(0)
        err = err_file.read().decode("utf-8", "replace")
    return code, out.decode("utf-8", "replace"), err, elapsed, exited_at


def run_scenario(
    scenario: str,
    lib: str,
    variant: str,
    url: str,
    extra: Iterable[str],
    timeout: float,
    env: dict[str, str],
) -> Child:
    argv = [sys.executable, str(SCENARIOS_PY), scenario, lib, variant, "--url", url, *extra]
    code, out, err, elapsed, exited_at = run_process(argv, timeout, env)
    if code is None:
        return Child(None, f"timeout after {timeout:.0f} s", err, elapsed, exited_at)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        tail = " | ".join(err.strip().splitlines()[-3:])
        return Child(None, f"exit status {code}: {tail[:400]}", err, elapsed, exited_at)
    return Child(json.loads(lines[-1]), "", err, elapsed, exited_at)


class SinkControl:
    """The driver's side of the sink's control endpoints (http.client: no proxies)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def _request(self, method: str, path: str, body: str | None, timeout: float) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.sink.port, timeout=timeout + 30)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body, headers)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def reset(self, mode: str = "normal", delay: float = 0.0) -> None:
        self._request("POST", "/_reset", json.dumps({"mode": mode, "delay": delay}), 10)

    def stats(self, expect: int | None = None, quiet: float = 0.5, timeout: float = 30) -> Any:
        """The counters, once ``expect`` events arrived or they stopped changing."""
        query = f"quiet={quiet}&timeout={timeout}" + (f"&expect={expect}" if expect else "")
        return self._request("GET", f"/_stats?{query}", None, timeout)


def rotated(round_index: int) -> tuple[str, ...]:
    shift = round_index % len(LIBS)
    return LIBS[shift:] + LIBS[:shift]


def total_drops(dropped: Any) -> float | None:
    if not isinstance(dropped, dict):
        return None
    return float(sum(int(v) for v in dropped.values()))


def logged_drops(stderr: str) -> int:
    """posthog counts no drops; it logs one ``queue is full`` warning per dropped event."""
    return sum(1 for line in stderr.splitlines() if "queue is full" in line)


# ----------------------------------------------------------------- scenarios


class Bench:
    def __init__(self, sizes: Sizes, sink: Sink, results: Results, env: dict[str, str]) -> None:
        self.sizes = sizes
        self.env = env
        self.sink = sink
        self.control = SinkControl(sink)
        self.results = results

    def child(
        self,
        scenario: str,
        lib: str,
        variant: str,
        extra: Sequence[str],
        timeout: float,
        label: str | None = None,
    ) -> Child | None:
        self.control.reset()
        name = label or scenario
        print(
            f"  {name:<11} {lib:<8} {variant:<10} {' '.join(extra)}",
            file=sys.stderr,
            end="",
            flush=True,
        )
        child = run_scenario(scenario, lib, variant, self.sink.url, extra, timeout, self.env)
        print(f"  {child.elapsed:6.1f} s", file=sys.stderr, flush=True)
        if child.result is None:
            self.results.fail(name, f"{lib}/{variant} {' '.join(extra)}: {child.error}")
            return None
        return child

    # ------------------------------------------------------------- import

    def run_import(self) -> None:
        r = self.results
        python = sys.executable
        for lib in LIBS:  # untimed: write the bytecode caches
            run_process([python, "-c", f"import {MODULES[lib]}"], 120, self.env)
        for round_index in range(self.sizes.cheap_rounds):
            for lib in rotated(round_index):
                module = MODULES[lib]
                code, _, err, _, _ = run_process(
                    [python, "-X", "importtime", "-c", f"import {module}"], 120, self.env
                )
                cumulative = parse_importtime(err, module)
                if code != 0 or cumulative is None:
                    r.fail("import", f"{lib}: -X importtime gave no line for {module}")
                else:
                    r.add("import", lib, "default", "importtime cumulative", "µs", cumulative)
                code, _, _, seconds, _ = run_process(
                    [python, "-c", f"import {module}"], 120, self.env
                )
                if code == 0:
                    r.add("import", lib, "default", "wall, raw", "ms", seconds * 1e3)
                _, _, _, seconds, _ = run_process([python, "-c", "pass"], 120, self.env)
                r.add("import", "python", "-c pass", "wall, raw", "ms", seconds * 1e3)
        baseline = r.median("import", "python", "-c pass", "wall, raw")
        for lib in LIBS:
            raw = r.get("import", lib, "default", "wall, raw")
            if raw is not None and baseline is not None:
                for sample in raw.samples:
                    r.add(
                        "import",
                        lib,
                        "default",
                        "wall, net of python -c pass",
                        "ms",
                        sample - baseline,
                    )

    # ------------------------------------------------------------- init, happy path

    def run_init(self) -> None:
        for round_index in range(self.sizes.cheap_rounds):
            for lib in rotated(round_index):
                for variant in ALL_VARIANTS[lib]:
                    child = self.child("init", lib, variant, [], 120)
                    if child and child.result:
                        self.results.add(
                            "init", lib, variant, "init()", "ms", child.result["init_ms"]
                        )

    def run_happy_path(self) -> None:
        r = self.results
        calls = ["--n", str(self.sizes.happy_calls)]
        for round_index in range(self.sizes.happy_rounds):
            for lib in rotated(round_index):
                child = self.child("happy_path", lib, "default", calls, 900)
                if child is None or child.result is None:
                    continue
                res = child.result
                r.add("happy_path", "(none)", "bare call", "ns/call", "ns", res["bare_ns"])
                r.add(
                    "happy_path",
                    "(none)",
                    "hand-written try/except",
                    "ns/call",
                    "ns",
                    res["try_except_ns"],
                )
                r.add(
                    "happy_path",
                    "(none)",
                    "hand-written try/except",
                    "overhead vs bare",
                    "ns",
                    res["try_except_ns"] - res["bare_ns"],
                )
                r.add("happy_path", lib, "default", "ns/call", "ns", res["decorated_ns"])
                r.add(
                    "happy_path",
                    lib,
                    "default",
                    "overhead vs bare",
                    "ns",
                    res["decorated_ns"] - res["bare_ns"],
                )
        r.note(
            "happy_path",
            "decorators: ours `@posthog_exceptions.capture_exceptions`, posthog "
            "`@posthog.scoped()`, sentry `@sentry_sdk.trace`, each library initialised with "
            "its defaults. ns/call includes the `timeit` loop; the overhead is the "
            "decorated call minus the bare call measured in the same process.",
        )

    # ------------------------------------------------------------- capture

    def run_capture(self) -> None:
        r = self.results
        seconds = ["--seconds", str(self.sizes.capture_seconds)]
        for round_index in range(self.sizes.cheap_rounds):
            for lib in rotated(round_index):
                for variant in ALL_VARIANTS[lib]:
                    for depth in self.sizes.depths:
                        child = self.child(
                            "capture", lib, variant, ["--depth", str(depth), *seconds], 600
                        )
                        if child and child.result:
                            r.add(
                                "capture",
                                lib,
                                variant,
                                f"depth {depth}",
                                "µs/capture",
                                child.result["us_per_capture"],
                            )
                            r.add(
                                "capture",
                                lib,
                                variant,
                                f"calling-thread CPU, depth {depth}",
                                "µs/capture",
                                child.result["cpu_us_per_capture"],
                            )
                            r.add(
                                "capture",
                                lib,
                                variant,
                                f"captures timed, depth {depth}",
                                "count",
                                child.result["captures"],
                            )
        for lib in LIBS:
            for variant in ALL_VARIANTS[lib]:
                d100 = r.median("capture", lib, variant, "depth 100")
                d1000 = r.median("capture", lib, variant, "depth 1000")
                if d100 and d1000:
                    r.add(
                        "capture",
                        lib,
                        variant,
                        "linearity: µs/frame at 1000 ÷ at 100",
                        "x",
                        (d1000 / 1000) / (d100 / 100),
                    )
        r.note(
            "capture",
            "µs per `capture_exception(exc)` on the calling thread; exceptions "
            "built first, only the captures timed, repeated until ≥ "
            f"{self.sizes.capture_seconds:g} s and ≥ 20 captures; two untimed captures at "
            "each depth first (lazy imports, source lines read once). The library's own "
            "delivery thread runs alongside, as in real use; 'calling-thread CPU' is the CPU "
            "time of the capturing thread itself (`time.thread_time()`): the rest of the wall "
            "time it waited, mostly for the GIL. ours/default's rate limit "
            "suppresses all but ~50 of these same-group exceptions (cost of a suppressed "
            "capture).",
        )

    # ------------------------------------------------------------- sporadic

    def run_sporadic(self) -> None:
        """Captures separated by idle gaps (the process sleeping): how programs raise."""
        r = self.results
        for round_index in range(self.sizes.sporadic_rounds):
            for lib in rotated(round_index):
                for variant in dict.fromkeys((LOCALS_OFF[lib], LOCALS_ON[lib])):
                    for depth in SPORADIC_DEPTHS:
                        for gap, n in self.sizes.sporadic_n:
                            extra = ["--depth", str(depth), "--gap", str(gap), "--n", str(n)]
                            child = self.child("sporadic", lib, variant, extra, 600)
                            if not (child and child.result):
                                continue
                            name = f"depth {depth}, gap {gap * 1e3:g} ms"
                            res = child.result
                            r.add("sporadic", lib, variant, name, "µs/capture", res["us_median"])
                            r.add("sporadic", lib, variant, f"p90, {name}", "µs", res["us_p90"])
        r.note(
            "sporadic",
            "µs per `capture_exception(exc)` on the calling thread, each capture after the "
            "process slept an idle gap (10 ms, 250 ms) and the exception was raised just "
            "before it; the median of each process's captures "
            + ", ".join(f"({n} at {gap * 1e3:g} ms)" for gap, n in self.sizes.sporadic_n)
            + ", then the median over rounds. In the gap the library's delivery thread "
            "sends the previous event and the CPU's caches cool down, as in a real program.",
        )

    # ------------------------------------------------------------- throughput

    def run_throughput(self) -> None:
        r = self.results
        n = self.sizes.throughput_n
        for round_index in range(self.sizes.heavy_rounds):
            for lib in rotated(round_index):
                for variant in HEAVY_VARIANTS[lib]:
                    child = self.child(
                        "throughput", lib, variant, ["--n", str(n), "--threads", "4"], 1200
                    )
                    if child is None or child.result is None:
                        continue
                    res = child.result
                    stats = self.control.stats(expect=res["captured"], quiet=1.0, timeout=120)
                    received = stats["unique"]
                    end = max(stats["last_event_at"] or res["t_flushed"], res["t_flushed"])
                    seconds = max(end - res["t_start"], 1e-9)
                    r.add(
                        "throughput", lib, variant, "events/s received", "ev/s", received / seconds
                    )
                    r.add("throughput", lib, variant, "received", "events", received)
                    r.add(
                        "throughput",
                        lib,
                        variant,
                        "lost (captured - received)",
                        "events",
                        res["captured"] - received,
                    )
                    r.add(
                        "throughput",
                        lib,
                        variant,
                        "capture phase (4 threads)",
                        "s",
                        res["t_captured"] - res["t_start"],
                    )
                    r.add(
                        "throughput",
                        lib,
                        variant,
                        "flush()",
                        "s",
                        res["t_flushed"] - res["t_captured"],
                    )
                    self._drops("throughput", lib, variant, res.get("dropped"), child.stderr)
                    if stats["duplicates"]:
                        r.add(
                            "throughput", lib, variant, "duplicates", "events", stats["duplicates"]
                        )
        r.note(
            "throughput",
            f"{n:,} exceptions (depth 10) raised and captured from 4 threads "
            f"({n // 4:,} each), then `flush(300)`. events/s = distinct events received by "
            "the sink ÷ seconds from the start to the later of the sink's last event and "
            "flush() returning.",
        )

    def _rss(self, scenario: str, lib: str, variant: str, res: dict[str, Any]) -> None:
        if "rss_setup_mib" in res:
            r = self.results
            r.add(scenario, lib, variant, "peak RSS after setup", "MiB", res["rss_setup_mib"])
            r.add(scenario, lib, variant, "peak RSS at the end", "MiB", res["rss_peak_mib"])

    def _drops(
        self,
        scenario: str,
        lib: str,
        variant: str,
        dropped: Any,
        stderr: str,
        name: str = "library-reported drops",
    ) -> None:
        count = total_drops(dropped)
        if count is not None:
            self.results.add(scenario, lib, variant, name, "events", count)
            if count:
                reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(dropped.items()) if v)
                self.results.note(scenario, f"{lib}/{variant} {name}, one round: {reasons}.")
        elif lib == "posthog":
            self.results.add(
                scenario, lib, variant, "'queue is full' log lines", "lines", logged_drops(stderr)
            )
            self.results.note(
                scenario,
                "posthog counts no drops: it logs a `queue is full` "
                "warning per dropped event, counted here from its stderr.",
            )

    # ------------------------------------------------------------- flood, flood_exit, hung

    def run_flood(self) -> None:
        r = self.results
        sizes = self.sizes
        delay = ["--mode", "delay", "--delay", str(SINK_DELAY)]
        for round_index in range(sizes.heavy_rounds):
            for lib in rotated(round_index):
                for variant in HEAVY_VARIANTS[lib]:
                    child = self.child(
                        "flood",
                        lib,
                        variant,
                        ["--n", str(sizes.flood_n), *delay, "--flush", "120"],
                        1500,
                    )
                    if child is not None and child.result is not None:
                        res = child.result
                        stats = self.control.stats(expect=res["captured"], quiet=1.0, timeout=60)
                        r.add("flood", lib, variant, "caller p50", "µs", res["p50_us"])
                        r.add("flood", lib, variant, "caller p99", "µs", res["p99_us"])
                        r.add(
                            "flood",
                            lib,
                            variant,
                            "capture phase",
                            "s",
                            res["t_captured"] - res["t_start"],
                        )
                        r.add(
                            "flood", lib, variant, "peak RSS growth", "MiB", res["rss_growth_mib"]
                        )
                        self._rss("flood", lib, variant, res)
                        self._drops("flood", lib, variant, res.get("dropped"), child.stderr)
                        r.add(
                            "flood",
                            lib,
                            variant,
                            "received (after flush(120))",
                            "events",
                            stats["unique"],
                        )
                        r.add("flood", lib, variant, "accepted", "events", res["accepted"])
                        dropped = total_drops(res.get("dropped"))
                        if dropped is not None:
                            r.add(
                                "flood",
                                lib,
                                variant,
                                "overflow not counted (captured - accepted - drops)",
                                "events",
                                res["captured"] - res["accepted"] - dropped,
                            )
                    child = self.child(
                        "flood",
                        lib,
                        variant,
                        ["--n", str(sizes.flood_exit_n), *delay],
                        600,
                        label="flood_exit",
                    )
                    if child is not None and child.result is not None:
                        res = child.result
                        stats = self.control.stats(expect=res["captured"], quiet=1.0, timeout=60)
                        r.add("flood_exit", lib, variant, "received", "events", stats["unique"])
                        r.add(
                            "flood_exit",
                            lib,
                            variant,
                            "peak RSS growth",
                            "MiB",
                            res["rss_growth_mib"],
                        )
                        r.add(
                            "flood_exit",
                            lib,
                            variant,
                            "exit took",
                            "s",
                            child.exited_at - res["t_end"],
                        )
                        self._drops(
                            "flood_exit",
                            lib,
                            variant,
                            res.get("dropped"),
                            child.stderr,
                            "library-reported drops before exit",
                        )
                    child = self.child(
                        "flood",
                        lib,
                        variant,
                        ["--n", str(sizes.hung_n), "--mode", "hung"],
                        600,
                        label="hung",
                    )
                    if child is not None and child.result is not None:
                        res = child.result
                        stats = self.control.stats(quiet=0.5, timeout=30)
                        r.add("hung", lib, variant, "peak RSS growth", "MiB", res["rss_growth_mib"])
                        self._rss("hung", lib, variant, res)
                        r.add("hung", lib, variant, "caller p99", "µs", res["p99_us"])
                        r.add("hung", lib, variant, "accepted", "events", res["accepted"])
                        self._drops("hung", lib, variant, res.get("dropped"), child.stderr)
                        r.add(
                            "hung",
                            lib,
                            variant,
                            "arrived (never answered)",
                            "events",
                            stats["unique"],
                        )
                        r.add(
                            "hung", lib, variant, "exit took", "s", child.exited_at - res["t_end"]
                        )
        r.note(
            "flood",
            f"{sizes.flood_n:,} captures (depth 3) in one thread against a sink "
            f"that answers each request after {SINK_DELAY * 1000:.0f} ms; then `flush(120)`. "
            "Peak RSS growth: the process's peak RSS at the end of the captures minus after "
            "setup (one warm-up capture, delivered). On Linux the peak is `VmHWM` from "
            "/proc/self/status, not `ru_maxrss`, which after fork and exec starts at the "
            "parent's (this driver's) peak and hides growth below it.",
        )
        r.note(
            "flood_exit",
            f"{sizes.flood_exit_n:,} captures (depth 3) against the "
            f"{SINK_DELAY * 1000:.0f} ms sink, then the process just ends (no flush): what "
            "its exit-time delivery gets through, and how long exit takes after the last "
            "capture.",
        )
        r.note(
            "hung",
            f"{sizes.hung_n:,} captures (depth 3) against a sink that reads each "
            "request and never answers; the process then ends. 'arrived' counts request "
            "bodies the sink read, none of which was acknowledged.",
        )

    # ------------------------------------------------------------- wire

    def run_wire(self) -> None:
        r = self.results
        n = self.sizes.wire_n
        for round_index in range(self.sizes.cheap_rounds):
            for lib in rotated(round_index):
                for variant in ALL_VARIANTS[lib]:
                    child = self.child("wire", lib, variant, ["--n", str(n)], 600)
                    if child is None or child.result is None:
                        continue
                    stats = self.control.stats(
                        expect=child.result["accepted"], quiet=1.0, timeout=60
                    )
                    received = stats["unique"]
                    if received:
                        r.add(
                            "wire",
                            lib,
                            variant,
                            "bytes/event",
                            "B",
                            stats["event_body_bytes"] / received,
                        )
                    r.add("wire", lib, variant, "received", "events", received)
                    r.add("wire", lib, variant, "requests", "requests", stats["requests"])
        r.note(
            "wire",
            f"{n} depth-10 exceptions captured, then flush: request-body bytes as "
            "received (compressed as sent: ours gzip, sentry gzip, posthog none by default) "
            "of the requests that carried events ÷ distinct events received.",
        )

    # ------------------------------------------------------------- chaos

    def run_chaos(self) -> None:
        """The long form of the chaos delivery test (bench/chaos.py), ours only: it is a
        test of delivery through failures, not a comparison."""
        events = 10_000 if self.sizes is FULL else 1_000
        seconds = 60 if self.sizes is FULL else 10
        argv = [sys.executable, str(ROOT / "bench" / "chaos.py"), "--events", str(events)]
        argv += ["--seconds", str(seconds)]
        print(f"  chaos: {events:,} events over {seconds} s", file=sys.stderr, flush=True)
        code, out, err, elapsed, _ = run_process(argv, 1800, self.env)
        status = "passed" if code == 0 else f"FAILED (exit status {code})"
        report = out.strip() or err.strip()[-2000:]
        command = f".bench-venv/bin/python bench/chaos.py --events {events} --seconds {seconds}"
        self.results.chaos = f"`{command}` — {status} in {elapsed:.0f} s\n\n{report}\n"
        self.results.chaos_passed = code == 0

    # ------------------------------------------------------------- profile

    def run_profile(self) -> None:
        if importlib.util.find_spec("pyinstrument") is None:
            self.results.profile = "(pyinstrument is not installed in this environment)"
            return
        child = self.child(
            "profile",
            "ours",
            "unlimited",
            ["--depth", "100", "--n", str(self.sizes.profile_n)],
            600,
        )
        if child and child.result:
            lines = child.result["text"].splitlines()
            head = (
                f"{child.result['captures']} captures at depth 100, "
                f"{child.result['us_per_capture']:.0f} µs each under the profiler"
            )
            self.results.profile = head + "\n\n" + "\n".join(lines[:60])


def parse_importtime(stderr: str, module: str) -> float | None:
    """The cumulative µs of ``module``'s own line in ``-X importtime`` output."""
    found = None
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if match and match.group(4) == module:
            found = float(match.group(2))
    return found


# ----------------------------------------------------------------- report


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("events", "count", "requests", "lines", "B") or (
        value == int(value) and abs(value) >= 1000
    ):
        return f"{value:,.0f}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def label(lib: str, variant: str) -> str:
    return VARIANT_LABELS.get((lib, variant), variant)


def scenario_table(results: Results, scenario: str) -> str:
    metrics = results.of(scenario)
    if not metrics:
        return "_no data_\n"
    lib_order = {name: i for i, name in enumerate(("(none)", "python", *LIBS))}
    var_order = {v: i for lib in LIBS for i, v in enumerate(ALL_VARIANTS[lib])}
    names: list[str] = []
    for m in metrics:
        if m.name not in names:
            names.append(m.name)
    metrics.sort(
        key=lambda m: (
            names.index(m.name),
            lib_order.get(m.library, 9),
            var_order.get(m.variant, 9),
        )
    )
    rows = [
        "| metric | library | variant | median | min | max | unit | runs |",
        "|---|---|---|---:|---:|---:|---|---:|",
    ]
    for m in metrics:
        rows.append(
            f"| {m.name} | {m.library} | {label(m.library, m.variant)} | "
            f"{fmt(m.median, m.unit)} | {fmt(min(m.samples), m.unit)} | "
            f"{fmt(max(m.samples), m.unit)} | {m.unit} | {len(m.samples)} |"
        )
    return "\n".join(rows) + "\n"


RATIO_PAIRS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "import": [("defaults", ALL_DEFAULT)],
    "init": [("locals off", {**LOCALS_OFF, "ours": "default"}), ("locals on", LOCALS_ON)],
    "happy_path": [("defaults", ALL_DEFAULT)],
    "capture": [("locals off", LOCALS_OFF), ("locals on", LOCALS_ON), ("defaults", ALL_DEFAULT)],
    "sporadic": [("locals off", LOCALS_OFF), ("locals on", LOCALS_ON)],
    "throughput": [
        ("ours rate_limit=False vs defaults", UNLIMITED_VS_DEFAULTS),
        ("defaults", ALL_DEFAULT),
    ],
    "flood": [
        ("ours rate_limit=False vs defaults", UNLIMITED_VS_DEFAULTS),
        ("defaults", ALL_DEFAULT),
    ],
    "flood_exit": [("ours rate_limit=False vs defaults", UNLIMITED_VS_DEFAULTS)],
    "hung": [("ours rate_limit=False vs defaults", UNLIMITED_VS_DEFAULTS)],
    "wire": [("locals off", LOCALS_OFF), ("locals on", LOCALS_ON)],
}
RATIO_METRICS = {
    "import": ("importtime cumulative", "wall, net of python -c pass"),
    "init": ("init()",),
    "happy_path": ("overhead vs bare",),
    "capture": ("depth 10", "depth 100", "depth 1000"),
    "sporadic": tuple(f"depth {d}, gap {g:g} ms" for d in SPORADIC_DEPTHS for g in (10, 250)),
    "throughput": ("events/s received",),
    "flood": ("caller p50", "caller p99", "peak RSS growth"),
    "flood_exit": ("received",),
    "hung": ("peak RSS growth",),
    "wire": ("bytes/event",),
}


def ratio_table(results: Results, scenario: str) -> str:
    rows = [
        "| metric | comparison | ours | posthog | sentry | ours ÷ posthog | ours ÷ sentry |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name in RATIO_METRICS.get(scenario, ()):
        for title, variants in RATIO_PAIRS.get(scenario, []):
            values = {lib: results.median(scenario, lib, variants[lib], name) for lib in LIBS}
            if values["ours"] is None:
                continue
            ours = values["ours"]
            cells = []
            for peer in ("posthog", "sentry"):
                value = values[peer]
                cells.append(fmt(ours / value) if value else "-")
            rows.append(
                f"| {name} | {title} | {fmt(ours)} | {fmt(values['posthog'])} | "
                f"{fmt(values['sentry'])} | {cells[0]} | {cells[1]} |"
            )
    return "\n".join(rows) + "\n" if len(rows) > 2 else ""


@dataclass
class Target:
    what: str
    measured: str
    ratio: str
    met: bool | None  # None: no data


def _ratio_target(
    what: str, ours: float | None, peers: dict[str, float | None], limit: float
) -> Target:
    """ours ÷ the fastest of ``peers`` against ``limit``."""
    known = [v for v in peers.values() if v]
    if ours is None or not known:
        return Target(what, "no data", "-", None)
    ratio = ours / min(known)
    measured = "; ".join([f"ours {fmt(ours)} µs", *(f"{k} {fmt(v)} µs" for k, v in peers.items())])
    return Target(what, measured, f"{ratio:.3f} (≤ {limit:g})", ratio <= limit)


def targets(results: Results, sizes: Sizes) -> list[Target]:
    r = results
    out: list[Target] = []

    def median(scenario: str, lib: str, variant: str, name: str) -> float | None:
        return r.median(scenario, lib, variant, name)

    # issue 14's targets: the hot loop, and sporadic captures (how programs raise)
    for scenario, regime, names, limits in (
        ("capture", "hot loop", ("depth 10", "depth 100"), (0.02, 0.015)),
        (
            "sporadic",
            "sporadic",
            tuple(f"depth {d}, gap {g} ms" for g in (10, 250) for d in SPORADIC_DEPTHS),
            (0.10, 0.05, 0.10, 0.05),
        ),
    ):
        for name, limit in zip(names, limits):
            ours = median(scenario, "ours", "unlimited", name)
            ph = median(scenario, "posthog", "default", name)
            se = median(scenario, "sentry", "nolocals", name)
            out.append(
                _ratio_target(
                    f"{regime} capture, {name}, locals off: ≤ {limit:g}x the faster peer",
                    ours,
                    {"posthog": ph, "sentry (no locals)": se},
                    limit,
                )
            )
    for scenario, regime, names, limit in (
        ("capture", "hot loop", ("depth 10", "depth 100"), 0.2),
        ("sporadic", "sporadic", ("depth 10, gap 10 ms", "depth 10, gap 250 ms"), 0.2),
    ):
        for name in names:
            out.append(
                _ratio_target(
                    f"{regime} capture, {name}, with locals: ≤ {limit:g}x posthog with locals",
                    median(scenario, "ours", "locals", name),
                    {"posthog": median(scenario, "posthog", "locals", name)},
                    limit,
                )
            )
    what = "end-to-end throughput: ≥ 10x the better peer, zero loss"
    ours_eps = median("throughput", "ours", "unlimited", "events/s received")
    lost = r.get("throughput", "ours", "unlimited", "lost (captured - received)")
    ph_eps = median("throughput", "posthog", "default", "events/s received")
    se_eps = median("throughput", "sentry", "default", "events/s received")
    peers = [v for v in (ph_eps, se_eps) if v]
    if ours_eps is None or not peers or lost is None:
        out.append(Target(what, "no data", "-", None))
    else:
        ratio = ours_eps / max(peers)
        worst = max(lost.samples)
        out.append(
            Target(
                what,
                f"ours {fmt(ours_eps)} ev/s (lost, worst round: {worst:,.0f}); posthog "
                f"{fmt(ph_eps)} ev/s; sentry {fmt(se_eps)} ev/s",
                f"{ratio:.1f}x (≥ 10x)",
                ratio >= 10 and worst == 0,
            )
        )
    what = "import time (-X importtime cumulative): ≤ 1/10 of the lighter peer"
    ours = median("import", "ours", "default", "importtime cumulative")
    ph = median("import", "posthog", "default", "importtime cumulative")
    se = median("import", "sentry", "default", "importtime cumulative")
    peers = [v for v in (ph, se) if v]
    if ours is None or not peers:
        out.append(Target(what, "no data", "-", None))
    else:
        ratio = ours / min(peers)
        out.append(
            Target(
                what,
                f"ours {fmt(ours)} µs; posthog {fmt(ph)} µs; sentry {fmt(se)} µs",
                f"{ratio:.3f} (≤ 0.100)",
                ratio <= 0.1,
            )
        )
    what = "decorator overhead: ≤ 2x the hand-written try/except overhead"
    ours = median("happy_path", "ours", "default", "overhead vs bare")
    hand = median("happy_path", "(none)", "hand-written try/except", "overhead vs bare")
    if ours is None or not hand:
        out.append(Target(what, "no data", "-", None))
    else:
        ratio = ours / hand
        out.append(
            Target(
                what,
                f"ours +{fmt(ours)} ns/call; try/except +{fmt(hand)} ns/call",
                f"{ratio:.1f}x (≤ 2x)",
                ratio <= 2,
            )
        )
    what = (
        f"flood_exit ({sizes.flood_exit_n:,} captures, {SINK_DELAY * 1000:.0f} ms sink): all "
        "delivered before the program ends, peak RSS growth ≤ 32 MiB"
    )
    received = r.get("flood_exit", "ours", "unlimited", "received")
    growth = r.get("flood_exit", "ours", "unlimited", "peak RSS growth")
    if received is None or growth is None:
        out.append(Target(what, "no data", "-", None))
    else:
        worst = min(received.samples)
        out.append(
            Target(
                what,
                f"ours received {', '.join(f'{v:,.0f}' for v in received.samples)}; "
                f"RSS growth worst {fmt(max(growth.samples))} MiB",
                f"{worst / sizes.flood_exit_n:.1%} delivered in the worst round",
                worst >= sizes.flood_exit_n and max(growth.samples) <= 32,
            )
        )
    what = (
        f"hung ({sizes.hung_n:,} captures, no answer): peak RSS growth ≤ the queue's byte "
        "bound (32 MiB), every overflow counted"
    )
    growth = r.get("hung", "ours", "unlimited", "peak RSS growth")
    accepted = r.get("hung", "ours", "unlimited", "accepted")
    drops = r.get("hung", "ours", "unlimited", "library-reported drops")
    if growth is None or accepted is None:
        out.append(Target(what, "no data", "-", None))
    else:
        worst = max(growth.samples)
        dropped = drops.samples if drops is not None else [0.0] * len(accepted.samples)
        counted = all(a + d == sizes.hung_n for a, d in zip(accepted.samples, dropped))
        out.append(
            Target(
                what,
                f"ours median {fmt(growth.median)} MiB, worst {fmt(worst)} MiB; accepted "
                f"{', '.join(f'{v:,.0f}' for v in accepted.samples)}",
                f"{worst / 32:.2f} of the bound",
                worst <= 32 and counted,
            )
        )
    what = (
        f"flood ({sizes.flood_n:,} captures, {SINK_DELAY * 1000:.0f} ms sink): drops equal "
        "exactly what overflowed the queue, and every accepted event is delivered"
    )
    uncounted = r.get(
        "flood", "ours", "unlimited", "overflow not counted (captured - accepted - drops)"
    )
    accepted = r.get("flood", "ours", "unlimited", "accepted")
    received = r.get("flood", "ours", "unlimited", "received (after flush(120))")
    if uncounted is None or accepted is None or received is None:
        out.append(Target(what, "no data", "-", None))
    else:
        missing = [a - v for a, v in zip(accepted.samples, received.samples)]
        out.append(
            Target(
                what,
                f"uncounted {', '.join(f'{v:,.0f}' for v in uncounted.samples)}; accepted but "
                f"not received {', '.join(f'{v:,.0f}' for v in missing)}",
                "-",
                all(v == 0 for v in uncounted.samples) and all(v == 0 for v in missing),
            )
        )
    for title, ours_variant, sentry_variant in (
        ("locals off", "unlimited", "nolocals"),
        ("locals on", "locals", "default"),
    ):
        what = f"bytes/event, {title}: ≤ half of sentry's"
        ours = median("wire", "ours", ours_variant, "bytes/event")
        se = median("wire", "sentry", sentry_variant, "bytes/event")
        if ours is None or not se:
            out.append(Target(what, "no data", "-", None))
        else:
            ratio = ours / se
            out.append(
                Target(
                    what,
                    f"ours {fmt(ours)} B; sentry {fmt(se)} B",
                    f"{ratio:.2f} (≤ 0.50)",
                    ratio <= 0.5,
                )
            )
    if r.chaos_passed is not None:
        out.append(
            Target(
                "chaos delivery, long form: every event arrives, no call raises",
                "see the chaos section",
                "-",
                r.chaos_passed,
            )
        )
    return out


def targets_table(items: list[Target]) -> str:
    rows = ["| target | measured (medians) | ours ÷ peer | status |", "|---|---|---|---|"]
    for t in items:
        status = "n/a" if t.met is None else ("met" if t.met else "MISSED")
        rows.append(f"| {t.what} | {t.measured} | {t.ratio} | {status} |")
    return "\n".join(rows) + "\n"


def versions() -> dict[str, str]:
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["brotli (sentry compresses with br when present)"] = (
        "present" if importlib.util.find_spec("brotli") else "absent"
    )
    return found


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}; {os.cpu_count()} CPUs; {platform.platform()}"


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}" + (" with uncommitted changes under src/" if dirty else "")


def command_line(argv: Sequence[str]) -> str:
    direct = " ".join([".bench-venv/bin/python", "bench/run.py", *argv])
    return f"make bench  →  {direct}" if os.environ.get("MAKELEVEL") else direct


SECTION_TITLES = {
    "import": "import",
    "init": "init",
    "happy_path": "happy path (decorator on a function that does not raise)",
    "capture": "capture_exception() on the calling thread (hot loop)",
    "sporadic": "capture_exception() on the calling thread, sporadic (idle gaps)",
    "throughput": "throughput, end to end",
    "flood": "flood (sink answers after 200 ms)",
    "flood_exit": "flood_exit (no flush; the process ends)",
    "hung": "hung sink",
    "wire": "wire: bytes per event",
}


def render(
    results: Results,
    sizes: Sizes,
    argv: Sequence[str],
    started: datetime.datetime,
    wall: float,
    scenarios: Sequence[str],
) -> str:
    out = ["# Benchmarks: posthog-exceptions vs posthog vs sentry-sdk", ""]
    out += [
        f"- Command: `{command_line(argv)}`",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; run wall time "
        f"{wall / 60:.1f} min"
        + (" (`--quick`: smaller N and fewer rounds)" if sizes is QUICK else ""),
        f"- Python {platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.executable})",
        f"- Machine: {machine()}",
        f"- posthog-exceptions measured from a copy of `src/` taken at the start (others edit "
        f"it meanwhile): git {results.git}, copy sha256 {results.source}",
        "- Installed: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        f"- Rounds: {sizes.cheap_rounds} (import, init, capture, wire), {sizes.happy_rounds} "
        f"(happy path: each round is already a best of 5 loops of {sizes.happy_calls:,} calls, "
        f"and sentry's decorator takes ~10 µs a call), {sizes.heavy_rounds} (throughput, flood, "
        "flood_exit, hung); library order rotated every round; every measurement in a fresh "
        "process.",
        "- Sink: `bench/sink.py` in the driver process on 127.0.0.1 (stdlib HTTP server); "
        "ours and posthog post to `host=<sink>`, sentry to `dsn=http://public@127.0.0.1:<port>/1`.",
        "- Variants: every library with its default options, plus one switch. ours's default "
        "includes a per-fingerprint rate limit (50 per group, then 1/s); every exception in "
        "these runs is of one group, so ours's comparison rows use `rate_limit=False` (full "
        "work for every event, like the peers) and `default` rows show the limiter at work.",
        "",
    ]
    targets_md = targets_table(targets(results, sizes))
    out += ["## Targets", "", targets_md]
    for scenario in scenarios:
        out += [f"## {SECTION_TITLES.get(scenario, scenario)}", ""]
        for note in results.notes.get(scenario, []):
            out += [f"_{note}_", ""]
        out += [scenario_table(results, scenario)]
        ratios = ratio_table(results, scenario)
        if ratios:
            out += ["Ratios (ours ÷ peer, medians):", "", ratios]
        for failure in results.failures.get(scenario, []):
            out += [f"- **failed run**: {failure}"]
        if results.failures.get(scenario):
            out += [""]
    if results.chaos:
        out += ["## Chaos delivery, the long form (ours)", "", results.chaos]
    if results.profile:
        out += [
            "## Profile: ours, capture at depth 100 (pyinstrument)",
            "",
            "```",
            results.profile,
            "```",
            "",
        ]
    return "\n".join(out)


# ----------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller N")
    parser.add_argument(
        "--only",
        action="append",
        choices=(*ORDER, "chaos", "profile"),
        help="run only this scenario (repeatable); flood includes flood_exit and hung",
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args(argv)
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    sizes = QUICK if args.quick else FULL
    chosen = [s for s in (*ORDER, "chaos", "profile") if args.only is None or s in args.only]
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    results = Results()
    shown: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-src-") as tmp, Sink() as sink:
        results.git = git_state()
        results.source = snapshot_source(Path(tmp))
        bench = Bench(sizes, sink, results, child_env(Path(tmp)))
        steps: dict[str, Callable[[], None]] = {
            "import": bench.run_import,
            "init": bench.run_init,
            "happy_path": bench.run_happy_path,
            "capture": bench.run_capture,
            "sporadic": bench.run_sporadic,
            "throughput": bench.run_throughput,
            "flood": bench.run_flood,
            "wire": bench.run_wire,
            "chaos": bench.run_chaos,
            "profile": bench.run_profile,
        }
        for scenario in chosen:
            print(f"== {scenario}", file=sys.stderr, flush=True)
            begun = time.perf_counter()
            steps[scenario]()
            results.durations[scenario] = time.perf_counter() - begun
            names = [scenario, *EXTRA_SCENARIOS] if scenario == "flood" else [scenario]
            for name in names:
                if name in ("profile", "chaos"):
                    continue
                shown.append(name)
                print(f"\n## {SECTION_TITLES.get(name, name)}\n\n{scenario_table(results, name)}")
                print(ratio_table(results, name), flush=True)
            text = render(results, sizes, raw_argv, started, time.perf_counter() - t0, shown)
            Path(args.output).write_text(text, encoding="utf-8")  # partial results survive
    wall = time.perf_counter() - t0
    text = render(results, sizes, raw_argv, started, wall, shown)
    Path(args.output).write_text(text, encoding="utf-8")
    print("## Targets\n\n" + targets_table(targets(results, sizes)))
    if results.profile:
        print("## Profile (ours, capture, depth 100)\n\n" + results.profile + "\n")
    print(f"wrote {os.path.relpath(args.output)} in {wall / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
