"""A strict validator of PostHog capture request bodies and ``$exception`` events.

It encodes ``/work/shared/docs/wire-format.md`` (section numbers ``§N`` below refer
to it) so that every event the test suite produces can be checked against the
wire format. It is stricter than the server where the server would silently
repair or degrade an event (truncation, stripped keys, a reversed exception list):
we never want to depend on those repairs.

Every problem is reported with a JSON path, e.g.
``$.properties.$exception_list[0].stacktrace.frames[3].lineno: must be ...``.

    problems_in_event(event)   -> list of problems ([] when valid)
    validate_event(event)      raises WireFormatError listing every problem
    validate_batch_body(body)  the same for {"api_key", "batch": [...], "sent_at"?}
"""

from __future__ import annotations

import json
import math
import re
import uuid as _uuid
from datetime import datetime
from typing import Any, List, Sequence

__all__ = [
    "EXCEPTION_LEVELS",
    "FRAME_PLATFORMS",
    "MAX_CONTEXT_LINE",
    "MAX_CUSTOM_CONTEXT_LINES",
    "MAX_DISTINCT_ID_CHARS",
    "MAX_EVENT_BYTES",
    "MAX_EXCEPTIONS",
    "MAX_REQUEST_BYTES",
    "MAX_TRACING_ID_CHARS",
    "RUNTIME_PROPERTIES",
    "SERVER_OWNED_PROPERTIES",
    "WireFormatError",
    "exceptions_of",
    "problems_in_body",
    "problems_in_event",
    "validate_batch_body",
    "validate_event",
]

FRAME_PLATFORMS = ("python", "custom")
"""The frame variants, chosen by a frame's ``platform`` (§3 Stack frames)."""

MAX_CONTEXT_LINE = 1024
"""Longest source line (in characters) allowed in ``pre_context``/``post_context``/
``context_line``; the producer must cap lines itself (§3 Stack frames, §5)."""

MAX_CUSTOM_CONTEXT_LINES = 10
"""``pre_context``/``post_context`` of a ``custom`` frame are capped at 10 (§3)."""

MAX_EXCEPTIONS = 50
"""``$exception_list`` is capped at 50 entries (§3)."""

MAX_EVENT_BYTES = 1_000_000
"""One event's compact UTF-8 JSON must stay below this (§1 Size)."""

MAX_REQUEST_BYTES = 20_000_000
"""A request body must stay below 20 MB (§1 Size)."""

MAX_DISTINCT_ID_CHARS = 200
"""Longer distinct ids are truncated by the server (§1)."""

MAX_API_KEY_CHARS = 64
"""Longer project keys are refused with 401 (§1)."""

MAX_TITLE_BYTES = 255
"""``$issue_name``/``$issue_description`` and an exception's ``type`` (§3)."""

EXCEPTION_LEVELS = ("fatal", "error", "warning", "log", "info", "debug")
"""Allowed ``$exception_level`` values (§3)."""

MECHANISM_SOURCES = ("cause", "context", "member")
"""Allowed ``mechanism.source`` values on nested entries (§3 mechanism)."""

SERVER_OWNED_PROPERTIES = (
    "$exception_types",
    "$exception_values",
    "$exception_sources",
    "$exception_functions",
    "$exception_release",
    "$exception_issue_id",
    "$exception_fingerprint_record",
    "$exception_fingerprint_version",
    "$exception_proposed_fingerprint",
)
"""Properties of ``$exception`` events that the server owns and strips (§3)."""

MAX_TRACING_ID_CHARS = 1000
"""``$session_id``/``$window_id`` come from request headers: the SDK caps them (the
cross-SDK tracing-headers contract), and so does this validator."""

RUNTIME_PROPERTIES = ("$python_runtime", "$python_version", "$os", "$os_version")
"""What a Python server SDK says of where it runs (posthog-python's names), strings."""

_U32_MAX = 2**32 - 1
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1

_SIMPLE_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_MD5_HEX = re.compile(r"[0-9a-f]{32}")
_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?"
    r"(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)?"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PYTHON_VERSION = re.compile(r"\d+\.\d+\.\d+")
_ABSOLUTE_PATH = re.compile(r"/|\\\\|[A-Za-z]:[\\/]")

Problems = List[str]


class WireFormatError(AssertionError):
    """An event or request body breaks the wire format; lists every problem found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{count} wire-format problem{'s' if count != 1 else ''}:\n{lines}")


# --------------------------------------------------------------------------- public API


def problems_in_event(event: object) -> list[str]:
    """Every wire-format problem of one event (any event type); ``[]`` when valid."""
    out: Problems = []
    _check_event(event, "$", out)
    return out


def validate_event(event: object) -> None:
    """Raise :class:`WireFormatError` listing every problem of ``event``."""
    problems = problems_in_event(event)
    if problems:
        raise WireFormatError(problems)


def problems_in_body(body: object) -> list[str]:
    """Every problem of a batch request body ``{"api_key", "batch": [...], "sent_at"?}``."""
    out: Problems = []
    _check_batch_body(body, out)
    return out


def validate_batch_body(body: object) -> None:
    """Raise :class:`WireFormatError` listing every problem of a batch request body:
    the project key, ``sent_at``, the request size, and each event (of any type)."""
    problems = problems_in_body(body)
    if problems:
        raise WireFormatError(problems)


def exceptions_of(event: object) -> list[dict[str, Any]]:
    """The ``$exception_list`` of an ``$exception`` event.

    Raises :class:`WireFormatError` when the event does not even have the shape
    needed to find it (a dict whose ``properties.$exception_list`` is a list of objects).
    """
    if not isinstance(event, dict):
        raise WireFormatError([f"$: must be an object, got {_describe(event)}"])
    properties = event.get("properties")
    if not isinstance(properties, dict):
        raise WireFormatError([f"$.properties: must be an object, got {_describe(properties)}"])
    entries = properties.get("$exception_list")
    if not isinstance(entries, list):
        raise WireFormatError(
            [f"$.properties.$exception_list: must be a list, got {_describe(entries)}"]
        )
    bad = [
        f"$.properties.$exception_list[{i}]: must be an object, got {_describe(entry)}"
        for i, entry in enumerate(entries)
        if not isinstance(entry, dict)
    ]
    if bad:
        raise WireFormatError(bad)
    return list(entries)


# --------------------------------------------------------------------------- helpers


def _key(path: str, key: object) -> str:
    if isinstance(key, str) and _SIMPLE_KEY.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(str(key))}]"


def _index(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _describe(value: object) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id_or_none(value: object) -> int | None:
    """``value`` when it is a valid id (a non-negative int, not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _is_iso8601(text: str) -> bool:
    """An ISO-8601 date and time (``T`` separator), optional fraction and offset
    (``Z``, ``+00:00``, ``+0000``, ``+00``)."""
    match = _ISO_8601.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second, off_hours, off_minutes = match.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return False
    return int(off_hours or 0) < 24 and int(off_minutes or 0) < 60


def _require_str(
    obj: dict[str, Any], key: str, path: str, out: Problems, *, required: bool, non_empty: bool
) -> str | None:
    """Check ``obj[key]`` is a (non-empty) string; return it when it is a string."""
    where = _key(path, key)
    if key not in obj:
        if required:
            out.append(f"{where}: required, missing")
        return None
    value: object = obj[key]
    if not isinstance(value, str):
        out.append(f"{where}: must be a string, got {_describe(value)}")
        return None
    if non_empty and not value:
        out.append(f"{where}: must be a non-empty string")
    return value


def _optional_bool(obj: dict[str, Any], key: str, path: str, out: Problems) -> None:
    if key in obj and not isinstance(obj[key], bool):
        out.append(f"{_key(path, key)}: must be a bool, got {_describe(obj[key])}")


def _optional_int_range(
    obj: dict[str, Any], key: str, path: str, out: Problems, low: int, high: int
) -> None:
    if key not in obj:
        return
    value = obj[key]
    if not _is_int(value) or not low <= value <= high:
        out.append(f"{_key(path, key)}: must be an int in {low}..{high}, got {_describe(value)}")


# --------------------------------------------------------------------------- JSON safety


def _json_problems(value: object, path: str, out: Problems) -> bool:
    """Report what ``json.dumps(allow_nan=False)`` + UTF-8 would choke on; True if clean.

    Iterative, so that deep nesting or a reference cycle cannot crash the validator.
    A path that already has a (structural) problem in ``out`` is not reported twice.
    """
    earlier = list(out)
    found: list[tuple[str, str]] = []
    stack: list[tuple[object, str, bool]] = [(value, path, False)]
    active: set[int] = set()  # containers on the current path, to detect cycles
    while stack:
        item, where, leaving = stack.pop()
        if leaving:
            active.discard(id(item))
            continue
        if item is None or isinstance(item, (bool, int)):
            continue
        if isinstance(item, str):
            # §1: the body must be UTF-8; a lone surrogate cannot be encoded.
            if _SURROGATE.search(item):
                found.append((where, "string contains a lone surrogate (not encodable as UTF-8)"))
            continue
        if isinstance(item, float):
            # json.dumps(allow_nan=False): NaN and infinities are not JSON.
            if not math.isfinite(item):
                found.append((where, f"{item!r} is not allowed in JSON"))
            continue
        if isinstance(item, (list, tuple, dict)):
            if id(item) in active:
                found.append((where, "circular reference"))
                continue
            active.add(id(item))
            stack.append((item, where, True))
            children: list[tuple[object, str, bool]] = []
            if isinstance(item, dict):
                for key, child in item.items():
                    child_path = _key(where, key)
                    if not isinstance(key, str):
                        found.append(
                            (child_path, f"object key must be a string, got {_describe(key)}")
                        )
                    elif _SURROGATE.search(key):
                        found.append(
                            (child_path, "key contains a lone surrogate (not encodable as UTF-8)")
                        )
                    children.append((child, child_path, False))
            else:
                children = [(child, _index(where, i), False) for i, child in enumerate(item)]
            stack.extend(reversed(children))
            continue
        found.append((where, f"not JSON-serialisable: {type(item).__name__}"))
    for where, reason in found:
        if not any(problem.startswith(f"{where}: ") for problem in earlier):
            out.append(f"{where}: {reason}")
    return not found


def _compact_size(value: object, path: str, out: Problems) -> int | None:
    """Bytes of the compact UTF-8 JSON of ``value`` (what the server measures), or None."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return len(text.encode("utf-8"))
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:
        out.append(f"{path}: not JSON-serialisable: {type(exc).__name__}: {exc}"[:300])
        return None


# --------------------------------------------------------------------------- events


def _check_event(event: object, path: str, out: Problems) -> None:
    if not isinstance(event, dict):
        out.append(f"{path}: an event must be an object, got {_describe(event)}")
        return

    # §1/§2: a missing event name is a 400.
    _require_str(event, "event", path, out, required=True, non_empty=True)

    properties = event.get("properties")
    if "properties" in event and not isinstance(properties, dict):
        # §1: properties is an object.
        out.append(f"{_key(path, 'properties')}: must be an object, got {_describe(properties)}")
        properties = None

    _check_distinct_id(event, properties, path, out)

    # §1: uuid optional; when sent, a UUID (we send the canonical hyphenated form).
    if "uuid" in event:
        value = event["uuid"]
        valid = isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is not None
        if valid:
            try:
                _uuid.UUID(str(value))
            except ValueError:
                valid = False
        if not valid:
            out.append(f"{_key(path, 'uuid')}: must be a UUID string, got {_describe(value)}")

    # §1: timestamp ISO-8601 when present (a bad timestamp is a 400, §2).
    if "timestamp" in event:
        value = event["timestamp"]
        if not (isinstance(value, str) and _is_iso8601(value)):
            out.append(
                f"{_key(path, 'timestamp')}: must be an ISO-8601 string, got {_describe(value)}"
            )

    if properties is not None:
        _check_common_properties(properties, _key(path, "properties"), out)
    if event.get("event") == "$exception":
        _check_exception_event(event, properties, path, out)

    # §1 Size: serialisable as JSON (no NaN), UTF-8 encodable, and below 1 MB compact.
    if _json_problems(event, path, out):
        size = _compact_size(event, path, out)
        if size is not None and size >= MAX_EVENT_BYTES:
            out.append(
                f"{path}: compact JSON is {size} bytes; one event must stay below "
                f"{MAX_EVENT_BYTES} (413 'maximum event size exceeded')"
            )


def _check_common_properties(properties: dict[str, Any], props_path: str, out: Problems) -> None:
    """What a server SDK adds to every event: flags are bools; the release id, the
    runtime and the tracing ids are strings, and the ids (from a browser's headers)
    non-empty, without control characters, capped."""
    for key in ("$geoip_disable", "$process_person_profile"):
        _optional_bool(properties, key, props_path, out)
    release = _require_str(
        properties, "$release_id", props_path, out, required=False, non_empty=True
    )
    if release is not None and release != release.strip():
        out.append(f"{_key(props_path, '$release_id')}: must be trimmed, got {_describe(release)}")
    for key in RUNTIME_PROPERTIES:
        _require_str(properties, key, props_path, out, required=False, non_empty=False)
    version = properties.get("$python_version")
    if isinstance(version, str) and not _PYTHON_VERSION.fullmatch(version):
        out.append(
            f"{_key(props_path, '$python_version')}: must be X.Y.Z, got {_describe(version)}"
        )
    for key in ("$session_id", "$window_id"):
        value = _require_str(properties, key, props_path, out, required=False, non_empty=True)
        if value is None:
            continue
        if _CONTROL.search(value):
            out.append(f"{_key(props_path, key)}: contains control characters")
        if len(value) > MAX_TRACING_ID_CHARS:
            out.append(
                f"{_key(props_path, key)}: {len(value)} characters; "
                f"at most {MAX_TRACING_ID_CHARS} allowed"
            )
        if value != value.strip():
            out.append(f"{_key(props_path, key)}: must be trimmed, got {_describe(value)}")


def _check_distinct_id(
    event: dict[str, Any], properties: dict[str, Any] | None, path: str, out: Problems
) -> None:
    # §1: distinct_id top-level, or properties.distinct_id; missing/null/empty rejects
    # the whole request; longer than 200 characters is truncated (we never want that).
    if (
        event.get("distinct_id") is not None
        or properties is None
        or "distinct_id" not in properties
    ):
        where, value = _key(path, "distinct_id"), event.get("distinct_id")
    else:
        where, value = _key(_key(path, "properties"), "distinct_id"), properties["distinct_id"]
    if not isinstance(value, str):
        out.append(f"{where}: required, must be a non-empty string, got {_describe(value)}")
    elif not value.strip():
        out.append(f"{where}: must be a non-empty string, got {_describe(value)}")
    elif len(value) > MAX_DISTINCT_ID_CHARS:
        out.append(
            f"{where}: {len(value)} characters; longer than {MAX_DISTINCT_ID_CHARS} "
            "is truncated by the server"
        )


def _check_exception_event(
    event: dict[str, Any], properties: dict[str, Any] | None, path: str, out: Problems
) -> None:
    props_path = _key(path, "properties")
    if properties is None:
        if "properties" not in event:
            # §3: $exception_list is required, so properties are too.
            out.append(f"{props_path}: required for $exception events, missing")
        return

    # §3: keys the server owns and strips.
    for key in SERVER_OWNED_PROPERTIES:
        if key in properties:
            out.append(f"{_key(props_path, key)}: owned by the server; must not be sent")

    # §3: the fingerprint must be a string (a list or number breaks the whole event);
    # we send an MD5 hex digest, or none (grouping="posthog").
    if "$exception_fingerprint" in properties:
        where = _key(props_path, "$exception_fingerprint")
        value = properties["$exception_fingerprint"]
        if not isinstance(value, str):
            out.append(f"{where}: must be a string, got {_describe(value)}")
        elif not _MD5_HEX.fullmatch(value):
            out.append(
                f"{where}: must be 32 lowercase hex characters (MD5), got {_describe(value)}"
            )

    # Ours (grouping="posthog"): the client's key, sent beside no fingerprint.
    if "$exception_client_fingerprint" in properties:
        value = properties["$exception_client_fingerprint"]
        if not (isinstance(value, str) and _MD5_HEX.fullmatch(value)):
            out.append(
                f"{_key(props_path, '$exception_client_fingerprint')}: must be 32 lowercase "
                f"hex characters (MD5), got {_describe(value)}"
            )
        if "$exception_fingerprint" in properties:
            out.append(
                f"{_key(props_path, '$exception_client_fingerprint')}: only without "
                "$exception_fingerprint"
            )

    # §3: $exception_level is one of six values.
    if "$exception_level" in properties:
        value = properties["$exception_level"]
        if not (isinstance(value, str) and value in EXCEPTION_LEVELS):
            out.append(
                f"{_key(props_path, '$exception_level')}: must be one of "
                f"{', '.join(EXCEPTION_LEVELS)}, got {_describe(value)}"
            )

    # §3: $exception_source (singular) is free producer metadata, a string.
    _require_str(properties, "$exception_source", props_path, out, required=False, non_empty=False)

    # §3: $issue_name / $issue_description at most 255 bytes.
    for key in ("$issue_name", "$issue_description"):
        value = _require_str(properties, key, props_path, out, required=False, non_empty=False)
        if value is not None and _utf8_len(value) > MAX_TITLE_BYTES:
            out.append(
                f"{_key(props_path, key)}: {_utf8_len(value)} UTF-8 bytes; "
                f"at most {MAX_TITLE_BYTES} allowed"
            )

    # §3 $lib: the server reverses $exception_list for posthog-python; use our own name.
    lib = _require_str(properties, "$lib", props_path, out, required=True, non_empty=True)
    if lib == "posthog-python":
        out.append(
            f"{_key(props_path, '$lib')}: must not be 'posthog-python' "
            "(the server would reverse $exception_list)"
        )

    _check_exception_list(properties, props_path, out)


def _check_exception_list(properties: dict[str, Any], props_path: str, out: Problems) -> None:
    where = _key(props_path, "$exception_list")
    # §3: required, non-empty, capped at 50.
    if "$exception_list" not in properties:
        out.append(f"{where}: required for $exception events, missing")
        return
    entries = properties["$exception_list"]
    if not isinstance(entries, list):
        out.append(f"{where}: must be a list, got {_describe(entries)}")
        return
    if not entries:
        out.append(f"{where}: must not be empty")
        return
    if len(entries) > MAX_EXCEPTIONS:
        out.append(f"{where}: {len(entries)} entries; at most {MAX_EXCEPTIONS} allowed")

    # exception ids of earlier entries; None once an earlier entry is unreadable
    # (already reported), so that a parent_id is not reported as dangling because of it.
    seen_ids: set[int] | None = set()
    for i, entry in enumerate(entries):
        entry_path = _index(where, i)
        if not isinstance(entry, dict):
            out.append(f"{entry_path}: an exception must be an object, got {_describe(entry)}")
            seen_ids = None
            continue
        _check_exception(entry, entry_path, out, outermost=i == 0, earlier_ids=seen_ids)
        mechanism = entry.get("mechanism")
        if seen_ids is None or "mechanism" not in entry:
            continue
        exception_id = (
            _id_or_none(mechanism.get("exception_id")) if isinstance(mechanism, dict) else None
        )
        if exception_id is not None:
            seen_ids.add(exception_id)
        elif not isinstance(mechanism, dict) or "exception_id" in mechanism:
            seen_ids = None


def _check_exception(
    exc: dict[str, Any], path: str, out: Problems, *, outermost: bool, earlier_ids: set[int] | None
) -> None:
    # §3 Exception object: type required, non-empty, at most 255 bytes.
    type_name = _require_str(exc, "type", path, out, required=True, non_empty=True)
    if type_name is not None and _utf8_len(type_name) > MAX_TITLE_BYTES:
        out.append(
            f"{_key(path, 'type')}: {_utf8_len(type_name)} UTF-8 bytes; "
            f"at most {MAX_TITLE_BYTES} allowed"
        )
    # §3 Exception object: value and module are strings.
    _require_str(exc, "value", path, out, required=False, non_empty=False)
    _require_str(exc, "module", path, out, required=False, non_empty=False)

    # §3 Exception object: thread_id is a 32-bit signed int (a larger one breaks the event).
    _optional_int_range(exc, "thread_id", path, out, _I32_MIN, _I32_MAX)

    _check_mechanism(exc, path, out, outermost=outermost, earlier_ids=earlier_ids)

    # §3 Exception object: stacktrace is {"type": "raw", "frames": [...]}, omitted
    # entirely when there are no frames.
    if "stacktrace" not in exc:
        return
    st_path = _key(path, "stacktrace")
    stacktrace = exc["stacktrace"]
    if not isinstance(stacktrace, dict):
        out.append(f"{st_path}: must be an object, got {_describe(stacktrace)}")
        return
    if stacktrace.get("type") != "raw":
        out.append(
            f"{_key(st_path, 'type')}: must be 'raw', got {_describe(stacktrace.get('type'))}"
        )
    frames_path = _key(st_path, "frames")
    frames = stacktrace.get("frames")
    if not isinstance(frames, list):
        out.append(f"{frames_path}: must be a list, got {_describe(frames)}")
        return
    if not frames:
        out.append(
            f"{frames_path}: must not be empty (omit the stacktrace when there are no frames)"
        )
        return
    # Frame order (entry point first) cannot be checked structurally: skipped.
    for i, frame in enumerate(frames):
        _check_frame(frame, _index(frames_path, i), out)


def _check_mechanism(
    exc: dict[str, Any], path: str, out: Problems, *, outermost: bool, earlier_ids: set[int] | None
) -> None:
    where = _key(path, "mechanism")
    if "mechanism" not in exc:
        if not outermost:
            # §3 mechanism: every nested entry is `chained`, with a source.
            out.append(f"{where}: required on nested entries (type 'chained' with a source)")
        return
    mechanism = exc["mechanism"]
    if not isinstance(mechanism, dict):
        out.append(f"{where}: must be an object, got {_describe(mechanism)}")
        return

    # §3 mechanism: type, handled, source, synthetic, exception_id / parent_id.
    mech_type = _require_str(mechanism, "type", where, out, required=True, non_empty=True)
    _optional_bool(mechanism, "handled", where, out)
    _optional_bool(mechanism, "synthetic", where, out)
    if "source" in mechanism and mechanism["source"] not in MECHANISM_SOURCES:
        out.append(
            f"{_key(where, 'source')}: must be one of {', '.join(MECHANISM_SOURCES)}, "
            f"got {_describe(mechanism['source'])}"
        )
    for key in ("exception_id", "parent_id"):
        if key in mechanism and not (_is_int(mechanism[key]) and mechanism[key] >= 0):
            out.append(
                f"{_key(where, key)}: must be a non-negative int, got {_describe(mechanism[key])}"
            )

    if outermost:
        # §3 mechanism: the outermost entry says how it was caught; `source` only on
        # nested entries; the outermost exception_id is 0 and it has no parent.
        if mech_type == "chained":
            out.append(
                f"{_key(where, 'type')}: the outermost entry says how the exception was "
                "caught; 'chained' is for nested entries"
            )
        if "source" in mechanism:
            out.append(f"{_key(where, 'source')}: must be absent on the outermost entry")
        if _is_int(mechanism.get("exception_id")) and mechanism["exception_id"] != 0:
            out.append(
                f"{_key(where, 'exception_id')}: the outermost entry's id must be 0, "
                f"got {mechanism['exception_id']}"
            )
        if "parent_id" in mechanism:
            out.append(f"{_key(where, 'parent_id')}: must be absent on the outermost entry")
        return

    # §3 mechanism: every nested entry is `chained` and names its link in `source`.
    if mech_type is not None and mech_type != "chained":
        out.append(f"{_key(where, 'type')}: must be 'chained' on nested entries, got {mech_type!r}")
    if "source" not in mechanism:
        out.append(f"{_key(where, 'source')}: required on nested entries (cause, context, member)")
    # §3 mechanism: ids are unique and a nested entry points at an earlier (wrapping) one.
    exception_id = _id_or_none(mechanism.get("exception_id"))
    if earlier_ids is not None and exception_id is not None and exception_id in earlier_ids:
        out.append(
            f"{_key(where, 'exception_id')}: {exception_id} is already used by an earlier entry"
        )
    parent_id = _id_or_none(mechanism.get("parent_id"))
    if earlier_ids is not None and parent_id is not None and parent_id not in earlier_ids:
        out.append(
            f"{_key(where, 'parent_id')}: {parent_id} is not the exception_id of an earlier entry"
        )


# --------------------------------------------------------------------------- frames


def _check_frame(frame: object, path: str, out: Problems) -> None:
    if not isinstance(frame, dict):
        out.append(f"{path}: a frame must be an object, got {_describe(frame)}")
        return
    # §3 Stack frames: the variant is chosen by `platform`.
    platform = frame.get("platform")
    if platform == "python":
        _check_python_frame(frame, path, out)
    elif platform == "custom":
        _check_custom_frame(frame, path, out)
    else:
        out.append(
            f"{_key(path, 'platform')}: must be one of {', '.join(FRAME_PLATFORMS)}, "
            f"got {_describe(platform)}"
        )


def _check_context(
    frame: dict[str, Any], path: str, out: Problems, *, max_items: int | None
) -> None:
    # §3 Stack frames: context_line a string; pre/post_context lists of strings only
    # (a null inside breaks the event); each line capped by the producer (§5).
    line = _require_str(frame, "context_line", path, out, required=False, non_empty=False)
    if line is not None and len(line) > MAX_CONTEXT_LINE:
        out.append(
            f"{_key(path, 'context_line')}: {len(line)} characters; "
            f"at most {MAX_CONTEXT_LINE} allowed"
        )
    for key in ("pre_context", "post_context"):
        if key not in frame:
            continue
        where = _key(path, key)
        lines = frame[key]
        if not isinstance(lines, list):
            out.append(f"{where}: must be a list of strings, got {_describe(lines)}")
            continue
        if max_items is not None and len(lines) > max_items:
            out.append(f"{where}: {len(lines)} lines; at most {max_items} allowed")
        for i, item in enumerate(lines):
            if not isinstance(item, str):
                out.append(f"{_index(where, i)}: must be a string, got {_describe(item)}")
            elif len(item) > MAX_CONTEXT_LINE:
                out.append(
                    f"{_index(where, i)}: {len(item)} characters; "
                    f"at most {MAX_CONTEXT_LINE} allowed"
                )


def _check_python_frame(frame: dict[str, Any], path: str, out: Problems) -> None:
    # §3 Stack frames, "platform": "python".
    filename = _require_str(frame, "filename", path, out, required=True, non_empty=True)
    if filename and _ABSOLUTE_PATH.match(filename):
        # §3: filename feeds grouping; it must not contain the host's install prefix.
        out.append(
            f"{_key(path, 'filename')}: must be deploy-independent (relative to the import "
            f"root), got the absolute path {filename!r}"
        )
    _require_str(frame, "function", path, out, required=True, non_empty=True)
    for key in ("abs_path", "module"):
        _require_str(frame, key, path, out, required=False, non_empty=False)
    _optional_int_range(frame, "lineno", path, out, 0, _U32_MAX)
    _optional_int_range(frame, "colno", path, out, 0, _U32_MAX)
    _check_context(frame, path, out, max_items=None)
    # §3: the server treats a missing in_app as true: always set it.
    if "in_app" not in frame:
        out.append(f"{_key(path, 'in_app')}: required (the server treats a missing value as true)")
    else:
        _optional_bool(frame, "in_app", path, out)
    if "code_variables" in frame and not isinstance(frame["code_variables"], dict):
        # JSON safety of the values is checked for the whole event.
        out.append(
            f"{_key(path, 'code_variables')}: must be an object, "
            f"got {_describe(frame['code_variables'])}"
        )
    _optional_bool(frame, "synthetic", path, out)


def _check_custom_frame(frame: dict[str, Any], path: str, out: Problems) -> None:
    # §3 Stack frames, "platform": "custom".
    _require_str(frame, "lang", path, out, required=True, non_empty=True)
    _require_str(frame, "function", path, out, required=True, non_empty=True)
    for key in ("filename", "module"):
        _require_str(frame, key, path, out, required=False, non_empty=False)
    _optional_int_range(frame, "lineno", path, out, 0, _U32_MAX)
    _optional_int_range(frame, "colno", path, out, 0, _U32_MAX)
    _optional_bool(frame, "resolved", path, out)
    # in_app: always set, as for python frames (it decides which frames group).
    if "in_app" not in frame:
        out.append(f"{_key(path, 'in_app')}: required (always set it)")
    else:
        _optional_bool(frame, "in_app", path, out)
    _check_context(frame, path, out, max_items=MAX_CUSTOM_CONTEXT_LINES)
    if "code_variables" in frame:
        out.append(
            f"{_key(path, 'code_variables')}: must be absent on custom frames (the server drops it)"
        )


# --------------------------------------------------------------------------- bodies


def _check_api_key(key: object, where: str, out: Problems) -> None:
    # §1: trimmed; 401 when empty, longer than 64 characters, non-ASCII,
    # a personal key (phx_...) or containing NUL.
    if not isinstance(key, str):
        out.append(f"{where}: required, must be a string, got {_describe(key)}")
        return
    key = key.strip()
    if not key:
        out.append(f"{where}: must not be empty")
        return
    if len(key) > MAX_API_KEY_CHARS:
        out.append(f"{where}: {len(key)} characters; at most {MAX_API_KEY_CHARS} allowed")
    if not key.isascii():
        out.append(f"{where}: must be ASCII")
    if "\x00" in key:
        out.append(f"{where}: must not contain NUL")
    if key.startswith("phx_"):
        out.append(f"{where}: a personal API key (phx_...); send the project key (phc_...)")


def _check_batch_body(body: object, out: Problems) -> None:
    if not isinstance(body, dict):
        out.append(f"$: a batch body must be an object, got {_describe(body)}")
        return
    _check_api_key(body.get("api_key"), "$.api_key", out)

    # §1: sent_at ISO-8601 when present; historical_migration, when present, false.
    if "sent_at" in body:
        value = body["sent_at"]
        if not (isinstance(value, str) and _is_iso8601(value)):
            out.append(f"$.sent_at: must be an ISO-8601 string, got {_describe(value)}")
    if "historical_migration" in body and body["historical_migration"] is not False:
        out.append(
            f"$.historical_migration: must be false when present, "
            f"got {_describe(body['historical_migration'])}"
        )

    if "batch" not in body:
        out.append("$.batch: required, missing")
        return
    events = body["batch"]
    if not isinstance(events, list):
        out.append(f"$.batch: must be a list, got {_describe(events)}")
        return
    if not events:
        out.append("$.batch: must not be empty")

    key = body.get("api_key")
    for i, event in enumerate(events):
        where = _index("$.batch", i)
        _check_event(event, where, out)
        # §1: a batch mixing several keys is refused (401).
        if isinstance(event, dict):
            for field in ("api_key", "token"):
                if field in event and event[field] != key:
                    out.append(
                        f"{_key(where, field)}: differs from the batch's api_key "
                        "(a batch mixing keys is refused)"
                    )

    # §1 Size: a request below 20 MB (measured when the whole body serialises; what
    # the events' checks already reported is not reported again).
    if _json_problems(body, "$", out):
        size = _compact_size(body, "$", out)
        if size is not None and size >= MAX_REQUEST_BYTES:
            out.append(
                f"$: compact JSON is {size} bytes; a request must stay below {MAX_REQUEST_BYTES}"
            )
