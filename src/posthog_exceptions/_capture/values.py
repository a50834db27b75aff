"""One value of a local variable, rendered JSON-safe and bounded: :class:`Renderer`.

Values
    ``None``, ``bool``, ``int`` within ±(2**63-1) and finite ``float`` are kept; other
    numbers become their repr. Strings stay strings, cut to ``max_value_length`` characters
    (ending in ``...``), lone surrogates replaced by U+FFFD. Anything else becomes a
    repr-like string of at most ``max_value_length`` characters. dict, list, tuple, set,
    frozenset, deque and their subclasses are walked by this module, never ``repr()``-ed:
    at most ``max_items`` items per container (``[1, 2, ... <9998 more>]``), ``max_depth``
    levels (``[...]`` below), ``<cycle>`` for recursion, through the base type's C methods
    (never a subclass's ``__iter__``/``__len__``), so ten million items cost what ten do.
    Values are told apart with ``type()``, never ``isinstance()`` (which may run a user
    ``__class__`` property). Names that start and end with ``__`` are skipped.

The cost bound
    Other objects go through ``repr()`` bounded in time by
    :mod:`posthog_exceptions._capture.bounded` (``max_seconds_per_value``, and what is
    left of ``max_seconds_per_event``). Such a value becomes ``<Name object (repr too
    slow)>``; a repr that raises or returns a non-str becomes ``<Name object (repr
    failed)>``. Types whose repr is plain C code (functions, classes, ``range``,
    ``complex``) skip the bound.
"""

from __future__ import annotations

import math
import re
import types
from collections import deque
from dataclasses import dataclass
from itertools import islice
from time import perf_counter
from typing import Any

from posthog_exceptions._log import logger

from .bounded import Abort, call_bounded, qualname_of
from .scrub import MASK, Scrubber

INT_MAX = 2**63 - 1
_SCRUB_MARGIN = 256  # characters scrubbed beyond the cut, so a secret at the cut is seen whole
_SURROGATE = re.compile("[\ud800-\udfff]")
# Types whose repr is C code that calls no user code: no trace function needed. Looked up
# by id(): hashing a type could run its metaclass's __hash__.
_PLAIN_REPR = frozenset(
    map(id, (complex, range, type, types.FunctionType, types.BuiltinFunctionType))
)
_BRACKETS: dict[type, tuple[str, str]] = {
    dict: ("{", "}"), list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}"),
    frozenset: ("frozenset({", "})"), deque: ("deque([", "])"),
}  # fmt: skip
# Read through type's own descriptors, so that a metaclass's __getattribute__ never runs.
_TYPE_QUALNAME: Any = vars(type)["__qualname__"]
_TYPE_NAME: Any = vars(type)["__name__"]
_TYPE_DICT: Any = vars(type)["__dict__"]
_QUOTED_LENGTH = 64  # strings shorter than this have their quoted form cached
_QUOTED_CACHE_SIZE = 4096
_QUOTED_MASK = repr(MASK)
_NAME = re.compile(r"-{0,2}[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_BINARY: tuple[Any, ...] = (bytes, bytearray)


@dataclass(frozen=True)
class VariableLimits:
    """Bounds on the local variables captured for one event."""

    max_variables_per_frame: int = 50
    max_value_length: int = 512
    max_depth: int = 3
    max_items: int = 20
    max_bytes_per_event: int = 64 * 1024
    max_seconds_per_value: float = 0.005
    max_seconds_per_event: float = 0.05

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            seconds = name.startswith("max_seconds")
            if type(value) not in ((int, float) if seconds else (int,)):
                raise TypeError(f"VariableLimits.{name} must be a number, not {value!r}")
            if not (0 < value < math.inf if seconds else value >= 0):
                raise ValueError(f"VariableLimits.{name} is out of range: {value!r}")


def _clean(text: str) -> str:
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def clip(text: str, limit: int, cut: bool = False) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when anything was lost."""
    if cut or len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..." if limit >= 3 else text[:limit]
    return _clean(text)


def _int_text(value: int) -> str:
    bits = value.bit_length()
    if bits <= 4096:
        try:
            return repr(value)
        except ValueError:  # sys.set_int_max_str_digits() set very low
            pass
    return f"<int of {bits} bits>"


class Renderer:
    """Renders one frame's values; ``room`` bounds the characters (and so the work) of each."""

    __slots__ = ("deadline", "limits", "path", "scrubber", "value_deadline")

    def __init__(self, limits: VariableLimits, scrubber: Scrubber) -> None:
        self.limits = limits
        self.scrubber = scrubber
        self.deadline = 0.0
        """When the event's time budget runs out."""
        self.value_deadline = 0.0
        """When the current variable's runs out; 0 until its first ``repr()``."""
        self.path: set[int] = set()

    def top(self, value: Any) -> object:
        """The JSON-safe form of one variable's value."""
        kind = type(value)
        if kind is int:
            if -INT_MAX <= value <= INT_MAX:
                return value
            return clip(_int_text(value), self.limits.max_value_length)
        if kind is str or issubclass(kind, str):
            return self._string(value, self.limits.max_value_length, quoted=False)
        if value is None or kind is bool:
            return value
        if kind is float:
            return value if math.isfinite(value) else repr(value)
        limit = self.limits.max_value_length
        return clip(self.text(value, 1, limit), limit)

    def text(self, value: Any, depth: int, room: int) -> str:
        """A repr-like rendering of ``value`` of about ``room`` characters at most."""
        kind = type(value)
        room = max(room, 1)
        if kind is str:  # the common exact types first, then their subclasses
            return self._string(value, room, quoted=True)
        if kind in _BRACKETS:
            return self._container(value, kind, kind, depth, room)
        if value is None or kind is bool or kind is float:
            return repr(value)
        if type(value) is int:
            return _int_text(value)
        if issubclass(kind, str):
            return self._string(value, room, quoted=True)
        for binary in _BINARY:
            if issubclass(kind, binary):
                data, size = binary.__getitem__(value, slice(0, room)), binary.__len__(value)
                return self.scrubber.scrub_text(repr(data)) + ("..." if size > room else "")
        for base in _BRACKETS:
            if issubclass(kind, base):
                return self._container(value, kind, base, depth, room)
        return self._opaque(value, kind, room)

    def _string(self, value: str, room: int, *, quoted: bool) -> str:
        size = str.__len__(value)
        if size <= room:  # the common case: short, and scrubbing leaves it as it is
            window = value if type(value) is str else str.__getitem__(value, slice(0, size))
            scrubbed = self.scrubber.scrub_text(window)
            if len(scrubbed) <= room:
                if quoted:
                    return repr(scrubbed)
                return scrubbed if scrubbed.isascii() else _clean(scrubbed)
        window = str.__getitem__(value, slice(0, room + _SCRUB_MARGIN))
        cut = size > room
        window = self.scrubber.scrub_text(window)
        if quoted:
            return repr(window[:room]) + ("..." if cut or len(window) > room else "")
        return clip(window, room, cut)

    def _quoted(self, value: str) -> str:
        """``repr()`` of a short exact str, scrubbed (cached: the same keys and values come
        back from capture to capture)."""
        cache = self.scrubber.quoted
        found = cache.get(value)
        if found is None:
            scrubbed = self.scrubber.scrub_text(value)
            found = repr(scrubbed)
            if len(cache) >= _QUOTED_CACHE_SIZE:
                cache.clear()
            cache[value] = found
        return found

    def _opaque(self, value: object, kind: type, room: int) -> str:
        try:
            if id(kind) in _PLAIN_REPR:
                text = repr(value)
            else:
                now = perf_counter()
                if not self.value_deadline:  # the variable's first repr starts its clock
                    per_value = now + self.limits.max_seconds_per_value
                    self.value_deadline = min(per_value, self.deadline)
                if now > self.value_deadline:
                    raise Abort
                text = call_bounded(repr, value, self.value_deadline)
        except Abort:
            return f"<{qualname_of(kind)} object (repr too slow)>"
        except Exception:
            logger.debug("repr() of a local variable failed", exc_info=True)
            return f"<{qualname_of(kind)} object (repr failed)>"
        window = str.__getitem__(text, slice(0, room + _SCRUB_MARGIN))
        return clip(self.scrubber.scrub_text(window), room, str.__len__(text) > len(window))

    def _container(self, value: Any, kind: type, base: Any, depth: int, room: int) -> str:
        opening, closing = _BRACKETS[base]
        fields = _namedtuple_fields(kind, value) if base is tuple and kind is not tuple else None
        total: int = base.__len__(value)
        if kind is not base or (total == 0 and base in (set, frozenset)):
            name = qualname_of(kind, _TYPE_NAME)  # like the reprs of Counter and namedtuples
            if total == 0 and base in (set, frozenset):
                return f"{name}()"
            if fields is not None:
                opening, closing = f"{name}(", ")"
            else:
                opening, closing = f"{name}({opening}", f"{closing})"
        if depth > self.limits.max_depth:
            return f"{opening}...{closing}"
        path = self.path
        if id(value) in path:
            return "<cycle>"
        path.add(id(value))
        try:
            parts = self._items(value, base, fields, depth, room - len(opening) - len(closing))
        finally:
            path.discard(id(value))
        if len(parts) < total:
            parts.append(f"... <{total - len(parts)} more>")
        elif total == 1 and kind is tuple:
            closing = "," + closing
        return opening + ", ".join(parts) + closing

    def _items(
        self, value: Any, base: Any, fields: tuple[str, ...] | None, depth: int, room: int
    ) -> list[str]:
        """The rendered items of a container (``key: value``, ``field=value`` or
        ``value``), as many as ``max_items`` and about ``room`` characters allow."""
        max_items = self.limits.max_items
        # The items to show are taken first: a repr among them may change the container,
        # and iterating a dict, set or deque that changes size raises.
        if base is not dict and fields is None:
            return self._values(list(islice(base.__iter__(value), max_items)), depth, room)
        scrubber = self.scrubber
        sensitive, levels = scrubber.name_is_sensitive, scrubber.levels
        quoted, quoted_cache = self._quoted, scrubber.quoted  # (the caches read inline)
        text = self.text
        is_dict = base is dict
        parts: list[str] = []
        used = 0
        if is_dict:
            items = list(islice(dict.items(value), max_items))
        else:
            items = list(zip(fields, islice(base.__iter__(value), max_items)))  # type: ignore[arg-type]
        for label, item in items:
            left = room - used
            if left <= 0:
                break
            # Short exact strings (most keys, many values) come from a cache; everything
            # else goes through text(). A key that names a secret hides its value.
            if type(label) is str and len(label) < _QUOTED_LENGTH < left:
                if is_dict:
                    part = quoted_cache.get(label) or quoted(label)
                    part += ": "
                else:
                    part = f"{label}="
                level = levels.get(label)
                hidden = sensitive(label) if level is None else level > 0
            else:
                part = text(label, depth + 1, left) + ": " if is_dict else f"{label}="
                hidden = (type(label) is str or issubclass(type(label), str)) and sensitive(
                    str.__getitem__(label, slice(0, 256))
                )
            if hidden:
                part += _QUOTED_MASK
            else:
                item_kind = type(item)
                if item_kind is int and -INT_MAX <= item <= INT_MAX:
                    part += int.__repr__(item)
                elif item_kind is str and len(item) < _QUOTED_LENGTH < left - len(part):
                    part += quoted_cache.get(item) or quoted(item)
                else:
                    part += text(item, depth + 1, left - len(part))
            parts.append(part)
            used += len(part) + 2
        return parts

    def _values(self, items: list[Any], depth: int, room: int) -> list[str]:
        """:meth:`_items` of a sequence or set: an item after one that names a secret
        (``("password", x)``, ``["--token", x]``) is hidden."""
        names, quoted, quoted_cache = self.scrubber.item_names, self._quoted, self.scrubber.quoted
        text = self.text
        parts: list[str] = []
        used = 0
        names_secret = False
        for item in items:
            left = room - used
            if left <= 0:
                break
            hidden = names_secret
            item_kind = type(item)
            if item_kind is str:
                found = names.get(item)  # (the cache of _names_secret, read inline)
                names_secret = self._names_secret(item) if found is None else found
            else:
                names_secret = self._names_secret(item)
            if hidden:
                part = _QUOTED_MASK
            elif item_kind is int and -INT_MAX <= item <= INT_MAX:
                part = int.__repr__(item)
            elif item_kind is str and len(item) < _QUOTED_LENGTH < left:
                part = quoted_cache.get(item) or quoted(item)
            else:
                part = text(item, depth + 1, left)
            parts.append(part)
            used += len(part) + 2
        return parts

    def _names_secret(self, item: object) -> bool:
        """Whether a sequence item is a name (``"password"``, ``b"x-api-key"``,
        ``"--token"``) whose next item is its secret value (cached for strs)."""
        kind = type(item)
        if kind is str:
            text: str = item  # type: ignore[assignment]
            cache = self.scrubber.item_names
            found = cache.get(text)
            if found is None:
                found = self._names_secret_text(text)
                if len(cache) >= _QUOTED_CACHE_SIZE:
                    cache.clear()
                cache[text] = found
            return found
        if kind is bytes and len(item) <= 66:  # type: ignore[arg-type]
            return self._names_secret_text(bytes.decode(item, "latin-1"))  # type: ignore[arg-type]
        return False

    def _names_secret_text(self, text: str) -> bool:
        return (
            len(text) <= 66
            and _NAME.fullmatch(text) is not None
            and self.scrubber.name_is_sensitive(text.lstrip("-"))
        )


def _namedtuple_fields(kind: type, value: tuple[object, ...]) -> tuple[str, ...] | None:
    try:
        fields = _TYPE_DICT.__get__(kind).get("_fields")
    except Exception:
        return None
    if type(fields) is not tuple or len(fields) != tuple.__len__(value):
        return None
    return fields if all(type(f) is str for f in fields) else None
