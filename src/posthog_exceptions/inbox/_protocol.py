"""What the local inbox accepts, as PostHog's capture service decides it.

:func:`parse_capture` turns a request body into events or raises :class:`Rejected`
with the status (and plain-text message) PostHog's capture service would answer:
400 for malformed JSON, a missing event name or distinct_id, a bad timestamp;
401 for a missing, malformed, personal or mixed project key; 413 for an event or
request over the size limits. :func:`decompress` handles every compression the
service accepts.
"""

from __future__ import annotations

import json
import re
import zlib
from datetime import datetime
from typing import Any, Dict

from ._store import distinct_id_of

MAX_EVENT_BYTES = 1_000_000
"""An event whose JSON reaches this many bytes is refused with 413."""


MAX_REQUEST_BYTES = 20_000_000
"""A request body (after decompression) reaching this many bytes is refused with 413."""


MAX_API_KEY_CHARS = 64


_GZIP_MAGIC = b"\x1f\x8b\x08"


_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?"
    r"(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)?"
)


Event = Dict[str, Any]


class Rejected(Exception):
    """A request refused with an HTTP status and a plain-text message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_iso8601(text: str) -> bool:
    """Whether ``text`` is an ISO-8601 date and time, with an optional UTC offset."""
    match = _ISO_8601.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second, off_hours, off_minutes = match.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return False
    return int(off_hours or 0) < 24 and int(off_minutes or 0) < 60


def decompress(raw: bytes, *, gzipped: bool, max_bytes: int) -> bytes:
    """The body with gzip undone when flagged or recognised by its magic bytes.

    Raises :class:`Rejected` (400) for broken gzip and (413) when the result
    reaches ``max_bytes``.
    """
    if not gzipped and not raw.startswith(_GZIP_MAGIC):
        body = raw
    else:
        out = bytearray()
        data = raw
        while True:  # one pass per gzip member
            room = max_bytes - len(out)
            if room <= 0:
                raise Rejected(413, "request body too large")
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out += inflater.decompress(data, room)
            except zlib.error as exc:
                raise Rejected(400, f"invalid gzip body: {exc}") from None
            if inflater.unconsumed_tail:
                raise Rejected(413, "request body too large")
            if not inflater.eof:
                raise Rejected(400, "invalid gzip body: truncated")
            data = inflater.unused_data
            if not data:
                break
        body = bytes(out)
    if len(body) >= max_bytes:
        raise Rejected(413, "request body too large")
    return body


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _key_candidates(event: Event) -> list[object]:
    properties = event.get("properties")
    found = [event.get("api_key"), event.get("token")]
    if isinstance(properties, dict):
        found.append(properties.get("token"))
    return found


def _project_key(candidates: list[object]) -> str:
    keys = set()
    for value in candidates:
        if value is None:
            continue
        if not isinstance(value, str):
            raise Rejected(401, "the project API key must be a string")
        keys.add(value.strip())
    if not keys:
        raise Rejected(401, "missing project API key (api_key)")
    if len(keys) > 1:
        raise Rejected(401, "several different project API keys in one request")
    key = keys.pop()
    if not key:
        raise Rejected(401, "empty project API key")
    if len(key) > MAX_API_KEY_CHARS:
        raise Rejected(401, f"project API key longer than {MAX_API_KEY_CHARS} characters")
    if not key.isascii():
        raise Rejected(401, "project API key is not ASCII")
    if "\0" in key:
        raise Rejected(401, "project API key contains NUL")
    if key.startswith("phx_"):
        raise Rejected(401, "a personal API key (phx_) cannot capture events; use the project key")
    return key


def _check_event(index: int, event: Event, max_event_bytes: int) -> None:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise Rejected(400, f"event {index}: missing event name")
    if distinct_id_of(event) is None:
        raise Rejected(400, f"event {index}: missing distinct_id")
    timestamp = event.get("timestamp")
    if timestamp is not None and not (isinstance(timestamp, str) and is_iso8601(timestamp)):
        raise Rejected(400, f"event {index}: timestamp is not ISO-8601: {timestamp!r:.100}")
    size = len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size >= max_event_bytes:
        raise Rejected(413, "maximum event size exceeded")


def parse_capture(
    body: bytes, *, expected_key: str | None, max_event_bytes: int
) -> tuple[list[Event], str]:
    """Validate a decompressed capture body; return its events and project key.

    Accepts one event, ``{"batch": [...]}`` or a bare array. Raises
    :class:`Rejected` with 400, 401 or 413; one bad event rejects the request.
    """
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Rejected(400, f"malformed JSON body: {exc}") from None
    candidates: list[object] = []
    if isinstance(payload, dict) and "batch" in payload:
        events = payload["batch"]
        if not isinstance(events, list):
            raise Rejected(400, "'batch' must be a JSON array")
        candidates += [payload.get("api_key"), payload.get("token")]
    elif isinstance(payload, dict):
        events = [payload]
    elif isinstance(payload, list):
        events = payload
    else:
        raise Rejected(400, "the body must be a JSON object or array")
    if not events:
        raise Rejected(400, "empty batch")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Rejected(400, f"event {index}: not a JSON object")
        if event.get("properties") is not None and not isinstance(event["properties"], dict):
            raise Rejected(400, f"event {index}: 'properties' must be a JSON object")
        candidates += _key_candidates(event)
    key = _project_key(candidates)
    if expected_key is not None and key != expected_key:
        raise Rejected(401, "project API key does not match this inbox")
    for index, event in enumerate(events):
        _check_event(index, event, max_event_bytes)
    return events, key
