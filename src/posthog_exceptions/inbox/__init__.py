"""The local inbox: an embedded, PostHog-compatible capture endpoint.

It answers PostHog's capture paths (``/i/v0/e/``, ``/e/``, ``/batch/``, ``/capture/``,
``/track/``, ``/engage/``; ``POST`` and ``GET ?data=``), posthog-python's
``/i/v1/analytics/events`` and the ``/flags``/``/decide`` calls ("no flags") the way
PostHog does — every body encoding PostHog's capture decodes (JSON, form ``data=``,
base64, gzip, deflate, lz64), CORS, PostHog's validation with plain-text errors —
within a memory budget shared by all connections (see the README), and stores every
accepted event in SQLite,
answering ``200 {"status": 1}`` only once the events are committed. Point a
client at it instead of PostHog to see exactly what would have been sent::

    from posthog_exceptions.inbox import Inbox

    with Inbox() as inbox:              # a free port on 127.0.0.1, in-memory store
        run_the_program(host=inbox.url)
        [event] = inbox.wait_for(1, event="$exception")

or from a shell: ``python -m posthog_exceptions inbox`` then
``python -m posthog_exceptions events``, or open the inbox's URL in a browser: a page
of the issues, each with its frames, source lines and variables, and the events as
they arrive (:mod:`._web`).

Only the standard library is used (``http.server`` and ``sqlite3``), and
importing :mod:`posthog_exceptions` does not import this package.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from typing import Any, Iterator

from ._protocol import MAX_EVENT_BYTES, MAX_REQUEST_BYTES
from ._server import CaptureServer, RequestRecord
from ._store import EventStore, default_db

__all__ = ["DEFAULT_DB", "EventStore", "Inbox", "RequestRecord", "serve"]

DEFAULT_DB: str
"""The default database path: ``$POSTHOG_INBOX_DB``, else ``posthog-inbox.sqlite3``.

Computed on each access (see :func:`__getattr__`), never frozen at import.
"""

MAX_RECORDED_REQUESTS = 1000


def __getattr__(name: str) -> str:
    if name == "DEFAULT_DB":
        return default_db()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Inbox:
    """A capture endpoint serving in a background thread, storing events in SQLite.

    ``port=0`` picks a free port; ``db=None`` keeps events in memory, a path
    keeps them in that file across restarts. With ``api_key`` set, requests
    carrying any other project key are refused with 401. The size limits
    default to PostHog's (1 MB per event, 20 MB per request).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | os.PathLike[str] | None = None,
        *,
        api_key: str | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        verbose: bool = False,
    ) -> None:
        self._address = (host, port)
        self._db = db
        self._options: dict[str, Any] = {
            "api_key": api_key,
            "max_event_bytes": max_event_bytes,
            "max_request_bytes": max_request_bytes,
            "verbose": verbose,
        }
        self._lifecycle = threading.Lock()
        self._committed = threading.Condition()
        self._records: collections.deque[RequestRecord] = collections.deque(
            maxlen=MAX_RECORDED_REQUESTS
        )
        self._records_lock = threading.Lock()
        self._store: EventStore | None = None
        self._server: CaptureServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    def __repr__(self) -> str:
        state = self._url or "stopped"
        return f"<Inbox {state} db={self._db!r}>"

    def __enter__(self) -> Inbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give clients, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise RuntimeError("the inbox is not running; call start() first")
        return self._url

    @property
    def store(self) -> EventStore:
        """The event store of the running inbox."""
        store = self._store
        if store is None:
            raise RuntimeError("the inbox is not running; call start() first")
        return store

    @property
    def requests(self) -> list[RequestRecord]:
        """The most recent requests answered (up to 1,000, oldest first), health checks too."""
        with self._records_lock:
            return list(self._records)

    def start(self) -> Inbox:
        """Open the store, bind the port and serve in a daemon thread; return ``self``.

        Requests can be sent as soon as this returns. An inbox stopped with
        :meth:`stop` may be started again.
        """
        with self._lifecycle:
            if self._server is not None:
                raise RuntimeError("the inbox is already running")
            store = EventStore(self._db)
            try:
                server = CaptureServer(
                    self._address,
                    store,
                    on_commit=self._notify_commit,
                    on_request=self._record,
                    **self._options,
                )
            except BaseException:
                store.close()
                raise
            thread = threading.Thread(
                target=server.serve_until_stopped,
                name="posthog-inbox",
                daemon=True,
            )
            thread.start()
            host, port = server.server_name, server.server_port
            if host in ("0.0.0.0", ""):
                host = "127.0.0.1"
            elif host == "::":
                host = "::1"
            self._url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
            self._store, self._server, self._thread = store, server, thread
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and close the store. Safe to call twice."""
        with self._lifecycle:
            store, server, thread = self._store, self._server, self._thread
            self._store = self._server = self._thread = None
            self._url = None
            if server is not None:
                server.stop_serving()
            if thread is not None:
                thread.join()
            if server is not None:
                server.close_connections()
                server.server_close()
            if store is not None:
                store.close()
        self._notify_commit()  # wake wait_for() callers so they notice

    def events(self, event: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored events, oldest first (see :meth:`EventStore.events`)."""
        return self.store.events(limit=limit, event=event)

    def wait_for(
        self, count: int, *, event: str | None = None, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until at least ``count`` events (named ``event``, if given) are stored.

        Returns every matching stored event, oldest first, including any stored
        before the call. Wakes on each commit rather than polling. Raises
        :class:`TimeoutError` after ``timeout`` seconds, and RuntimeError when
        the inbox is stopped meanwhile.
        """
        deadline = time.monotonic() + timeout
        with self._committed:
            while True:
                store = self.store
                found = store.count(event)
                if found >= count:
                    return store.events(event=event)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    what = "events" if event is None else f"{event!r} events"
                    raise TimeoutError(f"waited {timeout:g}s for {count} {what}, found {found}")
                self._committed.wait(remaining)

    def _notify_commit(self) -> None:
        with self._committed:
            self._committed.notify_all()

    def _record(self, record: RequestRecord) -> None:
        with self._records_lock:
            self._records.append(record)


@contextlib.contextmanager
def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    db: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Iterator[str]:
    """Run an :class:`Inbox` for the ``with`` block and yield its URL.

    ``kwargs`` are :class:`Inbox`'s keyword options (``api_key``, limits, ``verbose``).
    """
    with Inbox(host, port, db, **kwargs) as inbox:
        yield inbox.url
