"""What the local inbox accepts, as PostHog's capture service decides it.

:func:`load_json` parses a decoded body the way PostHog's parser (serde_json) does:
numbers outside the float range (``1e400``), ``NaN``/``Infinity`` and nesting 128
levels deep are refused, and lone UTF-16 surrogate escapes (``"\\ud800"``, valid JSON)
become U+FFFD, so that everything stored is valid UTF-8. :func:`parse_capture` turns
such a body into events or raises :class:`Rejected` with the status (and plain-text
message) PostHog's capture service would answer: 400 for malformed JSON, a missing
event name or distinct_id, a bad timestamp or uuid; 401 for a missing, malformed,
personal or mixed project key; 413 for an event over the size limit. The project key
is read from ``api_key``, ``token`` or ``$token`` (top level, or the batch's), or
``properties.token``; the distinct id from ``distinct_id``, ``$distinct_id`` or
``properties.distinct_id``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from itertools import accumulate
from typing import Any, Dict

from ._store import distinct_id_of

MAX_EVENT_BYTES = 1_000_000
"""An event whose JSON reaches this many bytes is refused with 413."""


MAX_REQUEST_BYTES = 20_000_000
"""A request body (after decompression) reaching this many bytes is refused with 413."""


MAX_API_KEY_CHARS = 64

MAX_JSON_DEPTH = 127
"""The deepest nesting accepted: serde_json, PostHog's parser, stops at 128 levels."""


_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?"
    r"(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)?"
)
_UUID = re.compile(
    r"(?:urn:uuid:)?[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
    r"|\{[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\}|[0-9a-fA-F]{32}"
)
"""The forms the uuid crate PostHog uses parses: hyphenated, braced, urn, 32 hex digits."""

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = tuple(1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256))
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")

Event = Dict[str, Any]


class Rejected(Exception):
    """A request refused with an HTTP status and a plain-text message.

    ``tag`` is the machine-readable error name the v1 endpoint answers with.
    """

    def __init__(self, status: int, message: str, tag: str = "invalid_request") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.tag = tag


class _OutOfRange(ValueError):
    pass


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


def is_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID in one of the spellings PostHog accepts."""
    return _UUID.fullmatch(text) is not None


def json_depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest, found without recursion.

    Strings are cut out first, so brackets inside them do not count.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if len(brackets) <= MAX_JSON_DEPTH:
        return len(brackets)  # an upper bound, and small enough
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets.encode("ascii"))), default=0)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _checked_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _OutOfRange(f"number out of range: {text:.40}")
    return value


def _checked_int(text: str) -> int:
    # serde_json reads an integer too big for 64 bits as a float: past 1.8e308, an error.
    if len(text) > 308 and math.isinf(float(text)):
        raise _OutOfRange(f"number out of range: {text:.40}...")
    return int(text)


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def load_json(text: str) -> Any:
    """Parse ``text`` as PostHog does, or raise :class:`Rejected` (400) saying why."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise Rejected(
            400,
            f"JSON nested deeper than {MAX_JSON_DEPTH} levels ({depth}):"
            " PostHog's parser stops at 128",
            "request_parsing_error",
        )
    try:
        payload = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_checked_float,
            parse_int=_checked_int,
        )
    except _OutOfRange as exc:
        raise Rejected(400, str(exc), "request_parsing_error") from None
    except (ValueError, RecursionError) as exc:
        raise Rejected(400, f"malformed JSON body: {exc}", "request_parsing_error") from None
    if _SURROGATE_ESCAPE.search(text):
        payload = _replace_surrogates(payload)
    return payload


def _key_candidates(event: Event) -> list[object]:
    properties = event.get("properties")
    found = [event.get("api_key"), event.get("token"), event.get("$token")]
    if isinstance(properties, dict):
        found.append(properties.get("token"))
    return found


def project_key(candidates: list[object]) -> str:
    """The one project key among ``candidates`` (``None`` skipped), checked like PostHog."""
    keys = set()
    for value in candidates:
        if value is None:
            continue
        if not isinstance(value, str):
            raise Rejected(401, "the project API key must be a string", "invalid_api_token")
        keys.add(value.strip())
    if not keys:
        raise Rejected(401, "missing project API key (api_key)", "invalid_api_token")
    if len(keys) > 1:
        mixed = "several different project API keys in one request"
        raise Rejected(401, mixed, "invalid_api_token")
    key = keys.pop()
    problem: str | None = None
    if not key:
        problem = "empty project API key"
    elif len(key) > MAX_API_KEY_CHARS:
        problem = f"project API key longer than {MAX_API_KEY_CHARS} characters"
    elif not key.isascii():
        problem = "project API key is not ASCII"
    elif "\0" in key:
        problem = "project API key contains NUL"
    elif key.startswith("phx_"):
        problem = "a personal API key (phx_) cannot capture events; use the project key"
    if problem:
        raise Rejected(401, problem, "invalid_api_token")
    return key


def check_size(event: Event, max_event_bytes: int) -> None:
    """Raise 413 when the event's JSON reaches ``max_event_bytes``."""
    size = len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size >= max_event_bytes:
        raise Rejected(413, "maximum event size exceeded", "payload_too_large")


def _check_event(index: int, event: Event, max_event_bytes: int) -> None:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise Rejected(400, f"event {index}: missing event name")
    if distinct_id_of(event) is None:
        raise Rejected(400, f"event {index}: missing distinct_id")
    timestamp = event.get("timestamp")
    if timestamp is not None and not (isinstance(timestamp, str) and is_iso8601(timestamp)):
        raise Rejected(400, f"event {index}: timestamp is not ISO-8601: {timestamp!r:.100}")
    uuid = event.get("uuid")
    if uuid is not None and uuid != "" and not (isinstance(uuid, str) and is_uuid(uuid)):
        raise Rejected(400, f"event {index}: invalid uuid: {uuid!r:.100}")
    check_size(event, max_event_bytes)


def _events_of(payload: object) -> tuple[list[Any], list[object]]:
    if isinstance(payload, dict) and "batch" in payload:
        events = payload["batch"]
        if not isinstance(events, list):
            raise Rejected(400, "'batch' must be a JSON array")
        return events, [payload.get("api_key"), payload.get("token"), payload.get("$token")]
    if isinstance(payload, dict):
        return [payload], []
    if isinstance(payload, list):
        return payload, []
    raise Rejected(400, "the body must be a JSON object or array")


def parse_capture(
    text: str, *, expected_key: str | None, max_event_bytes: int, engage: bool = False
) -> tuple[list[Event], str]:
    """Validate a decoded capture body; return its events and project key.

    Accepts one event, ``{"batch": [...]}`` or a bare array. Raises
    :class:`Rejected` with 400, 401 or 413; one bad event rejects the request.
    ``engage`` (the ``/engage/`` path) names an event without a name ``$identify``.
    """
    return validate_capture(
        load_json(text), expected_key=expected_key, max_event_bytes=max_event_bytes, engage=engage
    )


def validate_capture(
    payload: Any, *, expected_key: str | None, max_event_bytes: int, engage: bool = False
) -> tuple[list[Event], str]:
    """:func:`parse_capture` for a body :func:`load_json` has parsed already."""
    events, candidates = _events_of(payload)
    if not events:
        raise Rejected(400, "empty batch")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Rejected(400, f"event {index}: not a JSON object")
        if event.get("properties") is not None and not isinstance(event["properties"], dict):
            raise Rejected(400, f"event {index}: 'properties' must be a JSON object")
        if engage and event.get("event") is None:
            event["event"] = "$identify"
        candidates += _key_candidates(event)
    key = project_key(candidates)
    if expected_key is not None and key != expected_key:
        raise Rejected(401, "project API key does not match this inbox", "invalid_api_token")
    for index, event in enumerate(events):
        _check_event(index, event, max_event_bytes)
    return events, key
