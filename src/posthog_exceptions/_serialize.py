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
from itertools import islice

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

MAX_DEPTH = 20
_INT_LIMIT = 2**63 - 1
_MAX_REPR = 1024
_TYPE_QUALNAME: Any = vars(type)["__qualname__"]
_encode: Callable[[Any], str] | None = None  # made with the first event: json costs an import
_encode_made: Callable[[Any, int], Any] | None = None  # (no cycle markers: see dumps_made)


def _not_json(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _get_encoder() -> Callable[[Any], str]:
    """Compact JSON, no ASCII escaping, no NaN. The C encoder is called directly when it is
    there (``JSONEncoder.encode`` costs about a microsecond more per call in Python code);
    :func:`dumps_made`'s one, without cycle markers, is made with it."""
    global _encode, _encode_made
    if _encode is None:
        import json
        import json.encoder

        make: Any = getattr(json.encoder, "c_make_encoder", None)  # private, not in the stubs
        if make is None:  # pragma: no cover - CPython always has the C accelerator
            _encode = json.JSONEncoder(
                ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode
        else:
            as_string = json.encoder.encode_basestring

            def encode(value: Any) -> str:
                if type(value) is str:
                    return as_string(value)
                # a fresh markers dict per call: it detects cycles, and calls may overlap
                chunks = make({}, _not_json, as_string, None, ":", ",", False, False, False)
                return "".join(chunks(value, 0))

            _encode = encode
            _encode_made = make(None, _not_json, as_string, None, ":", ",", False, False, False)
    return _encode


def dumps_made(value: Any) -> bytes:
    """:func:`dumps` of a value the library made itself from plain JSON types (a frame's
    rendered variables: a dict of strs to scalars), which cannot hold a cycle: one C
    encoder for every call, without the cycle markers (a frame of ``capture_locals``
    costs about a microsecond less). Anything else still goes through :func:`dumps`."""
    encode = _encode_made
    if encode is None:
        _get_encoder()
        encode = _encode_made
        if encode is None:  # pragma: no cover - CPython always has the C accelerator
            return dumps(value)
    try:
        return "".join(encode(value, 0)).encode("utf-8")
    except Exception:  # (not JSON after all: the general path, which cleans it)
        return dumps(value)


def dumps(event: Any) -> bytes:
    """Serialise an event (or any value) to compact UTF-8 JSON; values that are not JSON
    are cleaned first."""
    encode = _encode or _get_encoder()
    try:
        return encode(event).encode("utf-8")
    except Exception:  # not JSON, or a hostile subclass (a dict whose items() raises)
        return encode(clean(event)).encode("utf-8")


def safe_str(value: object, limit: int = _MAX_REPR) -> str:
    """``str(value)`` that never raises, bounded to ``limit`` characters. A str subclass
    gives its data (its own ``__str__``/``__len__`` are never called)."""
    try:
        if type(value) is str:
            text = value
        elif issubclass(type(value), str):
            text = str.__str__(value)
        else:
            text = _exact_str(str(value))
    except Exception:
        text = _fallback_repr(value)
    return _clean_str(text if len(text) <= limit else text[: limit - 3] + "...")


def safe_bool(value: object) -> bool:
    """``bool(value)`` that never raises: a ``__bool__`` that raises counts as false."""
    if value is True or value is False:
        return value
    if value is None:
        return False
    try:
        return bool(value)
    except Exception:
        return False


def safe_repr(value: object, limit: int = _MAX_REPR) -> str:
    """``repr(value)`` that never raises, bounded to ``limit`` characters."""
    try:
        text = _exact_str(repr(value))
    except Exception:
        text = _fallback_repr(value)
    return _clean_str(text if len(text) <= limit else text[: limit - 3] + "...")


def _exact_str(text: object) -> str:
    """What ``str()``/``repr()`` returned, as a plain str: Python lets ``__str__`` return
    a str subclass, whose ``__len__`` or slicing may be anything."""
    if type(text) is str:
        return text
    if issubclass(type(text), str):
        return str.__str__(text)
    raise TypeError("__str__ or __repr__ returned a non-string")


def _fallback_repr(value: object) -> str:
    try:
        name = _TYPE_QUALNAME.__get__(type(value))  # type's own: a metaclass has no say
    except Exception:
        name = "object"
    return f"<{name} object (repr failed)>"


def cut_bytes(text: str, limit: int) -> str:
    """``text`` (lone surrogates replaced) cut to at most ``limit`` UTF-8 bytes, never in
    the middle of a character."""
    if len(text) <= limit // 4:  # no character takes more than 4 bytes
        return text
    if text.isascii():
        return text[:limit]
    encoded = _clean_str(text).encode("utf-8")
    return text if len(encoded) <= limit else encoded[:limit].decode("utf-8", "ignore")


def _clean_str(text: str) -> str:
    """Replace lone surrogates, which are not valid UTF-8 and break the whole request."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


MAX_ITEMS = 10_000
"""At most this many items of one container (list, tuple, set, dict) are copied; the rest
are cut, marked (``"<N more items cut>"``) and logged. A property of five million items
costs what ten thousand do, instead of being copied whole and then dropped as too large."""
MAX_VALUES = 100_000
"""At most this many values (the items of containers, at every depth) are copied by one
:func:`clean` in all, however they are nested."""


class _Left:
    """What one :func:`clean` may still copy."""

    __slots__ = ("cut", "values")

    def __init__(self) -> None:
        self.values = MAX_VALUES
        self.cut = 0


def clean(
    value: Any, _depth: int = 0, _path: frozenset[int] = frozenset(), _left: _Left | None = None
) -> Any:
    """Return a JSON-safe copy of ``value``: only dict, list, str, finite float, bool, None
    and 64-bit ints, with str keys. Unknown objects become their bounded repr; containers
    are copied up to :data:`MAX_VALUES` values in all and :data:`MAX_DEPTH` levels.

    Types are told apart with ``type()`` (exact types first: the common case costs one
    comparison) and ``issubclass(type(value), ...)``, never ``isinstance()``, which reads a
    ``__class__`` property (a lazy proxy whose setup fails raises there). Subclasses of
    str, int and float are read through the base type's C methods, never their own."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else _clean_str(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        return value if -_INT_LIMIT <= value <= _INT_LIMIT else _big_int(value)
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if _left is None:  # the outermost container: the budget of this copy starts here
        return _clean_outermost(value, kind, _depth, _path)
    if kind is dict:
        if _depth >= MAX_DEPTH:
            return "<max depth>"
        return _clean_mapping(value, _depth, _path, _left)
    if kind is list or kind is tuple:
        if _depth >= MAX_DEPTH:
            return "<max depth>"
        return _clean_items(value, _depth, _path, _left)
    try:
        return _clean_other(value, kind, _depth, _path, _left)
    except Exception:
        return safe_repr(value)


def _clean_outermost(value: Any, kind: type, depth: int, path: frozenset[int]) -> Any:
    if kind is dict and len(value) <= MAX_ITEMS:
        for item in value.values():  # the common case: a few scalar properties
            if type(item) not in _SCALARS:
                break
        else:
            return {_key(k): clean(v) for k, v in value.items()}
    left = _Left()
    copied = clean(value, depth, path, left)
    if left.cut:
        from ._log import logger

        logger.warning(
            "a value held too many items (%d per container, %d in all); %d were cut",
            MAX_ITEMS,
            MAX_VALUES,
            left.cut,
        )
    return copied


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _clean_mapping(value: Any, depth: int, path: frozenset[int], left: _Left) -> Any:
    ident = id(value)
    if ident in path:
        return "<cycle>"
    inner = path | {ident}
    out = {}
    limit = min(left.values, MAX_ITEMS)
    for k, v in _items(value, limit):
        left.values -= 1
        out[_key(k)] = clean(v, depth + 1, inner, left)
    if len(out) >= limit:
        _mark_cut(value, len(out), left, lambda marker: out.__setitem__("...", marker))
    return out


def _clean_items(value: Any, depth: int, path: frozenset[int], left: _Left) -> Any:
    ident = id(value)
    if ident in path:
        return "<cycle>"
    inner = path | {ident}
    out = []
    limit = min(left.values, MAX_ITEMS)
    for item in _iterate(value, limit):
        left.values -= 1
        out.append(clean(item, depth + 1, inner, left))
    if len(out) >= limit:
        _mark_cut(value, len(out), left, out.append)
    return out


def _mark_cut(value: Any, kept: int, left: _Left, add: Any) -> None:
    """Mark (and count) the items of ``value`` beyond the ``kept`` ones, if it has more."""
    try:
        size = len(value)
    except Exception:
        return
    if type(size) is int and size > kept:
        left.cut += size - kept
        add(f"<{size - kept} more items cut>")


def _clean_other(value: Any, kind: type, depth: int, path: frozenset[int], left: _Left) -> Any:
    """:func:`clean` of subclasses, containers other than dict/list/tuple, and objects."""
    if issubclass(kind, str):
        return _clean_str(str.__str__(value))
    if issubclass(kind, int):  # bool has no subclasses
        return clean(int.__index__(value))
    if issubclass(kind, float):
        return clean(float.__float__(value))
    if issubclass(kind, (dict, Mapping)):
        return "<max depth>" if depth >= MAX_DEPTH else _clean_mapping(value, depth, path, left)
    if issubclass(kind, (list, tuple, set, frozenset)):
        return "<max depth>" if depth >= MAX_DEPTH else _clean_items(value, depth, path, left)
    return _scalar(value, kind)


def _scalar(value: Any, kind: type) -> Any:
    if issubclass(kind, (bytes, bytearray, memoryview)):
        return bytes(value[:65536]).decode("utf-8", "replace")
    # Types from modules the program has loaded (never import them here: it is costly).
    dt = sys.modules.get("datetime")
    if dt is not None:
        for base in (dt.datetime, dt.date, dt.time):  # datetime first: it is a date
            if issubclass(kind, base):
                return base.isoformat(value)  # the C method: a subclass's own may raise
    for module, names in _STR_TYPES:
        loaded = sys.modules.get(module)
        if loaded is not None and issubclass(kind, tuple(getattr(loaded, n) for n in names)):
            return safe_str(value)
    enum = sys.modules.get("enum")
    if enum is not None and issubclass(kind, enum.Enum):
        return clean(value.value, MAX_DEPTH - 1, frozenset(), _Left())
    return safe_repr(value)


_STR_TYPES = (("uuid", ("UUID",)), ("decimal", ("Decimal",)), ("pathlib", ("PurePath",)))


def _big_int(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return f"<int of {value.bit_length()} bits>"


def _key(key: object) -> str:
    kind = type(key)
    if kind is str:
        return _clean_str(key)  # type: ignore[arg-type]
    try:
        if issubclass(kind, str):
            return _clean_str(str.__str__(key))
        if key is None or issubclass(kind, (int, float)):  # bool is an int
            return (_encode or _get_encoder())(clean(key))
    except Exception:
        pass
    return safe_str(key)


def _items(mapping: Any, limit: int) -> list[tuple[Any, Any]]:
    """At most ``limit`` items of ``mapping``, taken before any is cleaned (cleaning one may
    run code that changes the mapping)."""
    try:
        return list(islice(mapping.items(), max(limit, 0)))
    except Exception:
        return [("<unreadable mapping>", safe_repr(mapping))]


def _iterate(items: Any, limit: int) -> list[Any]:
    try:
        return list(islice(items, max(limit, 0)))
    except Exception:
        return [safe_repr(items)]
