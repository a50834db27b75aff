"""A local capture endpoint for the benchmarks: decodes and counts what the clients send.

Standard library only. It runs inside the driver (``bench/run.py``) on 127.0.0.1:

- PostHog: ``POST /batch/``, ``/i/v0/e/``, ``/e/``, ``/capture/`` with a JSON body
  (a ``batch`` object, a list, or one event), gzip by ``Content-Encoding`` or by its
  magic bytes; every event is counted and its ``uuid`` collected.
- Sentry: ``POST /api/<project>/envelope/`` (gzip, deflate, or br when ``brotli``
  happens to be importable); the envelope is parsed item by item, ``event`` items are
  counted and their ``event_id`` collected, ``client_report`` items are summed (that is
  how sentry-sdk reports the events it dropped).

Raw body bytes (as received, i.e. compressed) and requests are counted too. Control
endpoints for the driver: ``POST /_reset`` (zero the counters and set the behaviour:
``{"mode": "normal" | "delay" | "hung", "delay": 0.2}``) and ``GET /_stats``
(``?expect=N&quiet=S&timeout=T`` first waits, on a condition, until ``N`` distinct
events arrived or nothing changed for ``S`` seconds, for at most ``T`` seconds).
In ``normal`` mode a capture request is answered as soon as its body has arrived and
decoded afterwards, in order, on one decoder thread (``/_stats`` waits for it: a body
not yet decoded counts as in flight); ``delay`` decodes, then answers after that many
seconds; ``hung`` decodes and never answers until the next reset or stop.
"""

from __future__ import annotations

import gzip
import importlib
import json
import queue
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

try:
    _brotli: Any = importlib.import_module("brotli")
except ImportError:
    _brotli = None

MODES = ("normal", "delay", "hung")
POSTHOG_PATHS = ("/batch/", "/i/v0/e/", "/e/", "/capture/", "/track/")
_POSTHOG_OK = b'{"status": 1}'
_SENTRY_OK = b"{}"


class SinkState:
    """Counters and behaviour, shared by the handler threads; guarded by one condition."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.mode = "normal"
        self.delay = 0.0
        self.release = threading.Event()  # set on reset/stop: frees delayed and hung requests
        self._zero()

    def _zero(self) -> None:
        self.generation = getattr(self, "generation", 0) + 1
        self.requests = 0
        self.body_bytes = 0  # every capture request body, as received (compressed)
        self.event_body_bytes = 0  # bodies of the requests that carried at least one event
        self.events = 0
        self.ids: set[str] = set()
        self.duplicates = 0
        self.by_sdk: dict[str, int] = {"posthog": 0, "sentry": 0}
        self.sentry_items: dict[str, int] = {}
        self.client_reports: dict[str, int] = {}  # "reason/category" -> quantity
        self.decode_errors = 0
        self.last_error = ""
        self.first_event_at: float | None = None
        self.last_event_at: float | None = None
        self.inflight = 0  # requests whose body has not been counted yet
        self.changes = 0

    # ------------------------------------------------------------- control

    def reset(self, mode: str = "normal", delay: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        with self.cond:
            self.release.set()  # answer whatever a previous run left hanging
            self.release = threading.Event()
            self.mode = mode
            self.delay = delay
            self._zero()
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.release.set()
            self.cond.notify_all()

    def settle(self, expect: int | None, quiet: float, timeout: float) -> bool:
        """Wait until ``expect`` distinct events arrived, or nothing changed for ``quiet``
        seconds with no request half-read, or ``timeout`` passed. True unless timed out."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if self.inflight == 0 and expect is not None and len(self.ids) >= expect:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                before = self.changes
                self.cond.wait(min(quiet, remaining))
                if self.changes == before and self.inflight == 0:
                    return True

    def snapshot(self) -> dict[str, Any]:
        with self.cond:
            return {
                "mode": self.mode,
                "requests": self.requests,
                "body_bytes": self.body_bytes,
                "event_body_bytes": self.event_body_bytes,
                "events": self.events,
                "unique": len(self.ids),
                "duplicates": self.duplicates,
                "by_sdk": dict(self.by_sdk),
                "sentry_items": dict(self.sentry_items),
                "client_reports": dict(self.client_reports),
                "decode_errors": self.decode_errors,
                "last_error": self.last_error,
                "first_event_at": self.first_event_at,
                "last_event_at": self.last_event_at,
                "inflight": self.inflight,
                "now": time.monotonic(),
            }

    # ------------------------------------------------------------- counting

    def begin(self) -> tuple[str, float, threading.Event, int]:
        with self.cond:
            self.inflight += 1
            self.changes += 1
            return self.mode, self.delay, self.release, self.generation

    def abandon(self, generation: int) -> None:
        with self.cond:
            if generation != self.generation:
                return
            self.inflight -= 1
            self.changes += 1
            self.cond.notify_all()

    def record(
        self,
        sdk: str,
        size: int,
        ids: list[str],
        items: dict[str, int] | None = None,
        reports: dict[str, int] | None = None,
        error: str = "",
        generation: int | None = None,
    ) -> None:
        now = time.monotonic()
        with self.cond:
            if generation is not None and generation != self.generation:
                return  # a body of the run before the last reset, decoded late
            self.inflight -= 1
            self.changes += 1
            self.requests += 1
            self.body_bytes += size
            if error:
                self.decode_errors += 1
                self.last_error = error
            if ids:
                self.event_body_bytes += size
                self.events += len(ids)
                self.by_sdk[sdk] += len(ids)
                before = len(self.ids)
                self.ids.update(ids)
                self.duplicates += len(ids) - (len(self.ids) - before)
                if self.first_event_at is None:
                    self.first_event_at = now
                self.last_event_at = now
            for name, count in (items or {}).items():
                self.sentry_items[name] = self.sentry_items.get(name, 0) + count
            for name, count in (reports or {}).items():
                self.client_reports[name] = self.client_reports.get(name, 0) + count
            self.cond.notify_all()


# ----------------------------------------------------------------- decoding


def decompress(body: bytes, encoding: str) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, br); gzip is also recognised by its magic."""
    encoding = encoding.strip().lower()
    if encoding == "br":
        if _brotli is None:
            raise ValueError("a brotli body, and brotli is not importable")
        return bytes(_brotli.decompress(body))
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding in ("gzip", "x-gzip") or body[:2] == b"\x1f\x8b":
        return gzip.decompress(body)
    return body


def posthog_ids(body: bytes) -> list[str]:
    """The uuids of the events in a PostHog capture body (``batch`` object, list, or one)."""
    data = json.loads(body)
    if isinstance(data, dict) and isinstance(data.get("batch"), list):
        events = data["batch"]
    elif isinstance(data, list):
        events = data
    elif isinstance(data, dict) and "event" in data:
        events = [data]
    else:
        raise ValueError("no events in a PostHog body")
    return [str(event.get("uuid") or f"no-uuid-{id(event)}") for event in events]


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """A Sentry envelope: its header and its (item header, payload) pairs.

    The payload of an item is ``length`` bytes when its header says so, else up to the
    next newline."""
    end = body.find(b"\n")
    if end == -1:
        end = len(body)
    header = json.loads(body[:end] or b"{}")
    items: list[tuple[dict[str, Any], bytes]] = []
    pos = end + 1
    while pos < len(body):
        end = body.find(b"\n", pos)
        if end == -1:
            end = len(body)
        line = body[pos:end]
        pos = end + 1
        if not line.strip():
            continue
        item_header = json.loads(line)
        length = item_header.get("length")
        if isinstance(length, int) and length >= 0:
            payload = body[pos : pos + length]
            pos += length
            if body[pos : pos + 1] == b"\n":
                pos += 1
        else:
            end = body.find(b"\n", pos)
            if end == -1:
                end = len(body)
            payload = body[pos:end]
            pos = end + 1
        items.append((item_header, payload))
    return header, items


def sentry_counts(body: bytes) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Event ids, item counts by type, and client-report drops ("reason/category")."""
    header, items = parse_envelope(body)
    ids: list[str] = []
    kinds: dict[str, int] = {}
    reports: dict[str, int] = {}
    for item_header, payload in items:
        kind = str(item_header.get("type"))
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "event":
            event_id = header.get("event_id")
            if not event_id:
                event_id = json.loads(payload).get("event_id")
            ids.append(str(event_id))
        elif kind == "client_report":
            for entry in json.loads(payload).get("discarded_events", ()):
                key = f"{entry.get('reason')}/{entry.get('category')}"
                reports[key] = reports.get(key, 0) + int(entry.get("quantity", 0))
    return ids, kinds, reports


# ----------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    state: SinkState
    decoder: queue.SimpleQueue[Any]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client went away mid-request (it exited, or gave up on a hung sink)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the driver prints what matters

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        """The whole response in one buffer, so it leaves in one segment."""
        reason = self.responses.get(status, ("",))[0]
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            self.wfile.write(head.encode("latin-1") + body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/_stats":
            self._reply(404, b'{"error": "not found"}')
            return
        query = parse_qs(url.query)
        expect = int(query["expect"][0]) if "expect" in query else None
        quiet = float(query.get("quiet", ["0"])[0])
        timeout = float(query.get("timeout", ["0"])[0])
        state = self.server.state
        settled = state.settle(expect, quiet, timeout) if (quiet or expect is not None) else True
        stats = state.snapshot()
        stats["settled"] = settled
        self._reply(200, json.dumps(stats).encode())

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        state = self.server.state
        if path == "/_reset":
            options = json.loads(self._body() or b"{}")
            state.reset(str(options.get("mode", "normal")), float(options.get("delay", 0.0)))
            self._reply(200, b'{"ok": true}')
            return
        if path.startswith("/api/") and path.endswith("/envelope/"):
            sdk, answer = "sentry", _SENTRY_OK
        elif path in POSTHOG_PATHS:
            sdk, answer = "posthog", _POSTHOG_OK
        else:
            self._body()
            self._reply(404, b'{"error": "not found"}')
            return
        mode, delay, release, generation = state.begin()
        try:
            raw = self._body()
        except BaseException:
            state.abandon(generation)
            raise
        encoding = self.headers.get("Content-Encoding", "")
        if mode == "normal":
            # Answer first and decode on the decoder thread, as a capture service does (it
            # acknowledges once the body is in; parsing is the pipeline's job): a Python
            # json.loads of a 5 MiB batch takes 60-120 ms, and made this sink, not the
            # client, the bottleneck of the throughput scenario.
            self._reply(200, answer)
            self.server.decoder.put((sdk, path, raw, encoding, generation))
            return
        decode_and_record(state, sdk, path, raw, encoding, generation)
        if mode == "hung":
            release.wait()
            self.close_connection = True
            return  # reset or stop: the client is gone by now; send nothing
        if mode == "delay" and delay > 0:
            release.wait(delay)
        self._reply(200, answer)


def decode_and_record(
    state: SinkState, sdk: str, path: str, raw: bytes, encoding: str, generation: int
) -> None:
    """Decode one capture body and count what it holds (``state.begin()`` came first)."""
    ids: list[str] = []
    kinds: dict[str, int] = {}
    reports: dict[str, int] = {}
    error = ""
    try:
        body = decompress(raw, encoding)
        if sdk == "sentry":
            ids, kinds, reports = sentry_counts(body)
        else:
            ids = posthog_ids(body)
    except Exception as exc:
        error = f"{path}: {type(exc).__name__}: {exc}"[:300]
    state.record(sdk, len(raw), ids, kinds, reports, error, generation)


def _decode_forever(state: SinkState, bodies: queue.SimpleQueue[Any]) -> None:
    while True:
        item = bodies.get()
        if item is None:
            return
        decode_and_record(state, *item)


class Sink:
    """The sink on 127.0.0.1 and a free port, served from a daemon thread.

    ``with Sink() as sink:`` — ``sink.url`` for PostHog clients, ``sink.dsn`` for Sentry.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = SinkState()
        self._server = _Server((host, port), _Handler)
        self._server.state = self.state
        self._server.decoder = queue.SimpleQueue()
        self._decoder = threading.Thread(
            target=_decode_forever,
            args=(self.state, self._server.decoder),
            name="bench-sink-decoder",
            daemon=True,
        )
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self.dsn = f"http://public@{host}:{self.port}/1"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bench-sink", daemon=True
        )

    def start(self) -> Sink:
        self._decoder.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.stop()
        self._server.decoder.put(None)
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":  # a manual check: python bench/sink.py, then point a client at it
    with Sink() as sink:
        print(f"sink at {sink.url} (Sentry DSN {sink.dsn}); Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
