"""SQLite storage for the events the local inbox receives.

One :class:`EventStore` wraps one ``sqlite3`` connection guarded by a lock, so
the server's connection threads, the test thread and the ``events`` command can
share it. Every received event is kept, duplicates included: tests count them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime, timezone
from typing import Any, Mapping, Optional, Sequence, Tuple

DB_ENV_VAR = "POSTHOG_INBOX_DB"
"""Environment variable naming the default database file."""

DEFAULT_DB_NAME = "posthog-inbox.sqlite3"
"""The default database file, in the current directory, when the variable is unset."""

MAX_DISTINCT_ID_CHARS = 200
"""PostHog's capture service truncates longer distinct ids to this many characters."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT,
    event TEXT NOT NULL,
    distinct_id TEXT NOT NULL,
    timestamp TEXT,
    received_at TEXT NOT NULL,
    api_key TEXT,
    properties TEXT NOT NULL,  -- JSON object
    data TEXT NOT NULL         -- the whole event JSON as received
);
CREATE INDEX IF NOT EXISTS events_event ON events (event);
CREATE INDEX IF NOT EXISTS events_uuid ON events (uuid);
"""

_COLUMNS = "id, uuid, event, distinct_id, timestamp, received_at, api_key, properties"
_INSERT = (
    "INSERT INTO events (uuid, event, distinct_id, timestamp, received_at, api_key,"
    " properties, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

_Row = Tuple[Optional[str], str, str, Optional[str], str, Optional[str], str, str]


def default_db() -> str:
    """The database path used when none is given: ``$POSTHOG_INBOX_DB`` or the default name.

    Read at call time, so changing the environment later takes effect.
    """
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB_NAME


def distinct_id_of(event: Mapping[str, Any]) -> str | None:
    """The event's distinct id the way PostHog's capture service reads it.

    The top-level ``distinct_id`` (or its alias ``$distinct_id``) wins unless it is
    absent or null, then ``properties.distinct_id`` is used. A non-string value
    counts as its JSON text; NUL becomes U+FFFD. Returns ``None`` when the id is
    missing, null or empty (the server rejects such a request) and truncates longer
    ids to 200 characters.
    """
    value = event.get("distinct_id")
    if value is None:
        value = event.get("$distinct_id")
    if value is None:
        properties = event.get("properties")
        if isinstance(properties, Mapping):
            value = properties.get("distinct_id")
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("\0", "\ufffd")[:MAX_DISTINCT_ID_CHARS] or None


def _utc_now() -> str:
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _dumps(value)


class EventStore:
    """Events in a SQLite database; ``path=None`` keeps them in memory.

    File databases use WAL mode, so the ``events`` command can read while an
    inbox writes. All methods are thread-safe. Events stored in a file survive
    closing and reopening it.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path: str | None = None if path is None else os.fspath(path)
        self._lock = threading.Lock()
        connection = sqlite3.connect(
            ":memory:" if self.path is None else self.path,
            check_same_thread=False,
            isolation_level=None,  # autocommit; transactions are explicit
        )
        try:
            connection.execute("PRAGMA busy_timeout = 5000")
            if self.path is not None:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        self._connection: sqlite3.Connection | None = connection

    def __repr__(self) -> str:
        return f"EventStore({self.path!r})"

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._connection is None

    def _open_connection(self) -> sqlite3.Connection:
        # Called with the lock held.
        if self._connection is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._connection

    def add(self, events: Sequence[Mapping[str, Any]], api_key: str | None = None) -> int:
        """Store ``events`` in one transaction and return how many were stored.

        Each event needs a non-empty ``event`` name and a distinct id (top-level
        or in ``properties``); otherwise :class:`ValueError` is raised and
        nothing is stored. The whole event is kept as JSON in the ``data`` column.
        Rows are made one at a time as SQLite takes them, so a large batch is not
        held twice more in memory as JSON text.
        """
        received_at = _utc_now()
        for event in events:
            _check(event)
        if not events:
            return 0
        with self._lock:
            connection = self._open_connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    _INSERT, (_row(event, api_key, received_at) for event in events)
                )
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        return len(events)

    def events(
        self,
        limit: int | None = None,
        event: str | None = None,
        *,
        after: int | None = None,
        data: bool = False,
    ) -> list[dict[str, Any]]:
        """The most recent ``limit`` events (all when ``None``), oldest first.

        ``event`` keeps only events with that name, ``after`` only those stored after
        the event with that ``id``. Each result has the keys ``id``, ``uuid``,
        ``event``, ``distinct_id``, ``timestamp``, ``received_at``, ``api_key`` and
        ``properties`` (a parsed dict); with ``data``, also ``data``: the whole event
        as received (a parsed dict, top-level ``$set`` included).
        """
        columns = _COLUMNS + (", data" if data else "")
        conditions: list[str] = []
        params: list[object] = []
        if event is not None:
            conditions.append("event = ?")
            params.append(event)
        if after is not None:
            conditions.append("id > ?")
            params.append(after)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT {columns} FROM events{where} ORDER BY id DESC LIMIT ?"
        params.append(-1 if limit is None else max(limit, 0))
        with self._lock:
            rows = self._open_connection().execute(sql, params).fetchall()
        rows.reverse()
        return [_as_dict(row) for row in rows]

    def get(self, event_id: int) -> dict[str, Any] | None:
        """The event with this ``id``, as :meth:`events` gives it with ``data``; else ``None``."""
        sql = f"SELECT {_COLUMNS}, data FROM events WHERE id = ?"
        with self._lock:
            row = self._open_connection().execute(sql, (event_id,)).fetchone()
        return None if row is None else _as_dict(row)

    def last_id(self) -> int:
        """The ``id`` of the newest stored event, 0 when there is none."""
        with self._lock:
            row = self._open_connection().execute("SELECT MAX(id) FROM events").fetchone()
        return int(row[0] or 0)

    def count(self, event: str | None = None) -> int:
        """How many events are stored (only those named ``event`` when given)."""
        with self._lock:
            connection = self._open_connection()
            if event is None:
                row = connection.execute("SELECT COUNT(*) FROM events").fetchone()
            else:
                row = connection.execute(
                    "SELECT COUNT(*) FROM events WHERE event = ?", (event,)
                ).fetchone()
        return int(row[0])

    def clear(self) -> None:
        """Delete every stored event."""
        with self._lock:
            self._open_connection().execute("DELETE FROM events")

    def close(self) -> None:
        """Close the database; later calls do nothing, other methods then raise RuntimeError."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _as_dict(row: Sequence[Any]) -> dict[str, Any]:
    found = {
        "id": row[0],
        "uuid": row[1],
        "event": row[2],
        "distinct_id": row[3],
        "timestamp": row[4],
        "received_at": row[5],
        "api_key": row[6],
        "properties": json.loads(row[7]),
    }
    if len(row) > 8:
        found["data"] = json.loads(row[8])
    return found


def _check(event: Mapping[str, Any]) -> tuple[str, str]:
    """The event's name and distinct id; ValueError when either is missing."""
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise ValueError("an event needs a non-empty string 'event' name")
    distinct_id = distinct_id_of(event)
    if distinct_id is None:
        raise ValueError(f"event {name!r} has no distinct_id")
    return name, distinct_id


def _row(event: Mapping[str, Any], api_key: str | None, received_at: str) -> _Row:
    name, distinct_id = _check(event)
    properties = event.get("properties")
    return (
        _optional_text(event.get("uuid")),
        name,
        distinct_id,
        _optional_text(event.get("timestamp")),
        received_at,
        api_key,
        _dumps(properties if isinstance(properties, Mapping) else {}),
        _dumps(event),
    )
