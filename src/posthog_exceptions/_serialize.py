"""Turning whatever the caller hands us into JSON the capture service accepts.

PostHog's capture service is strict: ``NaN``, a lone surrogate or an integer
beyond 64 bits makes it reject the *whole request*, not just the bad event.
So caller-supplied values (properties, ``$set`` data) go through
:func:`clean` once, when they enter the library; the event builders only
produce plain JSON, and :func:`dumps` serialises an event to compact UTF-8
bytes on the caller's thread. Serialising at enqueue time snapshots the event
(later mutation of the caller's dicts cannot change it) and gives the queue an
exact byte size to bound itself by.

:func:`clean` never raises and never calls more than ``str``/``repr`` on a
user object, each guarded; its output is bounded in depth.
"""

from __future__ import annotations

import math
import sys
from _collections_abc import Mapping  # collections.abc, without importing collections

TYPE_CHECKING = False
if TYPE_CHECKING:
    import json
    from typing import Any

MAX_DEPTH = 20
_INT_LIMIT = 2**63 - 1
_MAX_REPR = 1024
_encoder: json.JSONEncoder | None = None  # made with the first event: json costs an import


def _get_encoder() -> json.JSONEncoder:
    global _encoder
    if _encoder is None:
        import json

        _encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _encoder


def dumps(event: Any) -> bytes:
    """Serialise an event (or any value) to compact UTF-8 JSON; values that are not JSON
    are cleaned first."""
    encoder = _encoder or _get_encoder()
    try:
        return encoder.encode(event).encode("utf-8")
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        return encoder.encode(clean(event)).encode("utf-8")


_nonce: str | None = None


def dumps_spliced(event: dict[str, Any], frame_json: dict[int, bytes]) -> bytes:
    """:func:`dumps` for an ``$exception`` event whose frames already have JSON.

    Each stack's frames list is swapped for a placeholder string, the event is
    encoded, and the placeholder replaced by the frames' cached JSON (keyed by
    ``id()`` of the frame dict; frames without one are encoded here). The
    placeholder carries a random per-process nonce, so no user text can collide."""
    global _nonce
    if _nonce is None:
        import os

        _nonce = os.urandom(8).hex()
    stacks = [
        entry["stacktrace"]
        for entry in event["properties"]["$exception_list"]
        if isinstance(entry.get("stacktrace"), dict)
    ]
    swapped: list[tuple[dict[str, Any], Any]] = []
    blobs: list[tuple[bytes, bytes]] = []
    try:
        for number, stack in enumerate(stacks):
            frames = stack["frames"]
            parts = [frame_json.get(id(frame)) or dumps(frame) for frame in frames]
            token = f"\x00{_nonce}:{number}\x00"
            swapped.append((stack, frames))
            stack["frames"] = token
            blobs.append((dumps(token), b"[" + b",".join(parts) + b"]"))
        encoded = dumps(event)
    finally:
        for stack, frames in swapped:
            stack["frames"] = frames
    for placeholder, blob in blobs:
        encoded = encoded.replace(placeholder, blob, 1)
    return encoded


def safe_str(value: object, limit: int = _MAX_REPR) -> str:
    """``str(value)`` that never raises, bounded to ``limit`` characters."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = _fallback_repr(value)
    return _clean_str(text if len(text) <= limit else text[: limit - 3] + "...")


def safe_repr(value: object, limit: int = _MAX_REPR) -> str:
    """``repr(value)`` that never raises, bounded to ``limit`` characters."""
    try:
        text = repr(value)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
    except Exception:
        text = _fallback_repr(value)
    return _clean_str(text if len(text) <= limit else text[: limit - 3] + "...")


def _fallback_repr(value: object) -> str:
    try:
        name = type(value).__qualname__
    except Exception:
        name = "object"
    return f"<{name} object (repr failed)>"


def _clean_str(text: str) -> str:
    """Replace lone surrogates, which are not valid UTF-8 and break the whole request."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean(value: Any, _depth: int = 0, _path: frozenset[int] = frozenset()) -> Any:
    """Return a JSON-safe copy of ``value``: only dict, list, str, finite float, bool, None
    and 64-bit ints, with str keys. Unknown objects become their bounded repr."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _clean_str(str.__str__(value))
    if isinstance(value, int):
        if -_INT_LIMIT <= value <= _INT_LIMIT:
            return int(value)
        return _big_int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(float(value))
    if _depth >= MAX_DEPTH:
        return "<max depth>"
    if isinstance(value, (dict, Mapping, list, tuple, set, frozenset)):
        ident = id(value)
        if ident in _path:
            return "<cycle>"
        path = _path | {ident}
        if isinstance(value, (dict, Mapping)):
            return {_key(k): clean(v, _depth + 1, path) for k, v in _items(value)}
        return [clean(v, _depth + 1, path) for v in _iterate(value)]
    return _scalar(value)


def _scalar(value: object) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value[:65536]).decode("utf-8", "replace")
    # Types from modules the program has loaded (never import them here: it is costly).
    dt = sys.modules.get("datetime")
    if dt is not None and isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    for module, names in _STR_TYPES:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(value, tuple(getattr(loaded, n) for n in names)):
            return safe_str(value)
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(value, enum.Enum):
        return clean(value.value, MAX_DEPTH - 1)
    return safe_repr(value)


_STR_TYPES = (("uuid", ("UUID",)), ("decimal", ("Decimal",)), ("pathlib", ("PurePath",)))


def _big_int(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return f"<int of {value.bit_length()} bits>"


def _key(key: object) -> str:
    if isinstance(key, str):
        return _clean_str(str.__str__(key))
    if key is None or isinstance(key, (bool, int, float)):
        return (_encoder or _get_encoder()).encode(clean(key))
    return safe_str(key)


def _items(mapping: Any) -> list[tuple[Any, Any]]:
    try:
        return list(mapping.items())
    except Exception:
        return [("<unreadable mapping>", safe_repr(mapping))]


def _iterate(items: Any) -> list[Any]:
    try:
        return list(items)
    except Exception:
        return [safe_repr(items)]
