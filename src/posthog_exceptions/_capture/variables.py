"""Safe, bounded serialisation of a frame's local variables, with secret scrubbing.

With ``capture_locals=True`` each in-app frame carries ``code_variables``, rendered by
:func:`serialize_locals` on the thread that caught the exception. It never raises: it
catches ``Exception`` only, so a ``KeyboardInterrupt``/``SystemExit`` raised by a user
``__repr__`` during capture propagates and Ctrl-C keeps working.

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
    Other objects go through ``repr()`` under a ``sys.settrace`` function that also asks
    for opcode events (3.11 reports a one-line ``while True: pass`` no other way; 3.12
    ignores the request but reports every backward jump), reads the clock every 16 events
    and, once ``max_seconds_per_value`` (or what is left of ``max_seconds_per_event``) is
    spent, raises an internal ``BaseException`` subclass that a user ``except Exception``
    cannot swallow; the previous trace function (coverage, a debugger) is then restored.
    Such a value becomes ``<Name object (repr too slow)>``; a repr that raises or returns a
    non-str becomes ``<Name object (repr failed)>``. Tracing slows Python code several-fold,
    so a repr that normally takes milliseconds (a large DataFrame) may be cut off: raise
    ``max_seconds_per_value`` for such objects. Types whose repr is plain C code (functions,
    classes, ``range``, ``complex``) skip the tracer. Not bounded: C code emits no trace
    events (``time.sleep``, a regex, a GC pause, or the C repr of a huge builtin container
    held by a user object, e.g. a dataclass field holding ten million items); and CPython
    drops a trace function that raised, so a repr that catches ``BaseException`` and keeps
    looping runs on. Code of the standard library and of installed packages is never cut
    short — a weakref callback or finaliser that the garbage collector runs mid-repr must
    complete — so a loop that stays inside such code runs on too; a signal handler or
    ``__del__`` of the program's own that runs during the call may be cut short.

The budget
    One :class:`Budget` per event, shared by its frames. Once ``max_bytes_per_event``
    (names plus rendered values) or ``max_seconds_per_event`` (time spent here) is spent,
    the rest of the frame becomes ``"...": "<budget exhausted>"`` and later frames ``{}``.

Scrubbing
    A variable, dict key or namedtuple field whose name contains one of
    :data:`DEFAULT_SCRUB_NAMES` or the extra names (case-insensitive, ignoring ``_`` and
    ``-``) gets :data:`MASK` without its value being rendered; the substring rule
    over-masks on purpose (``author`` contains ``auth``). Unless ``scrub_values=False``,
    strings and reprs are scrubbed too: URL credentials (``scheme://[Filtered]@host``),
    ``Bearer``/``Basic`` credentials, tokens with a secret prefix (``phx_``, ``sk_live_``,
    ``sk_test_``, ``rk_live_``, GitHub ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_``/
    ``github_pat_``, ``glpat-``, Slack ``xox?-``, AWS ``AKIA``/``ASIA`` key ids, Google
    ``AIza``), JWTs, PEM private keys, and ``key=value``/``key: value`` pairs with a
    sensitive key (``Settings(password='...')``, ``Authorization: Token ...``). Public
    keys stay: PostHog ``phc_`` and Stripe ``pk_live_``. Only ``max_value_length`` + 256
    characters are scrubbed, so a secret over 256 characters long crossing the cut may
    show its start (PEM blocks are masked to the end of the window).
"""

from __future__ import annotations

import math
import re
import sys
import types
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from itertools import repeat as _repeat
from time import perf_counter
from typing import Any, Callable

from posthog_exceptions._log import internal_error, logger
from posthog_exceptions._own import is_own_file

from .scrub import MASK, Scrubber

_INT_MAX = 2**63 - 1
_CHECK_EVERY = 16  # trace events between two clock reads
# Python 3.9 loses an exception raised from a "line" event of a loop that jumps to itself
# (the loop then runs on, untraced); raising from the "opcode" event next to it works.
_LINE_EVENTS_RAISE = sys.version_info >= (3, 10)
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
_NO_LABEL = object()
_QUOTED_LENGTH = 64  # strings shorter than this have their quoted form cached
_QUOTED_CACHE_SIZE = 4096
_QUOTED_MASK = repr(MASK)
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


_DEFAULT_LIMITS = VariableLimits()


class Budget:
    """What one event may still spend on local variables; shared by its frames.

    Not thread-safe: use one per event, on the thread that builds it."""

    __slots__ = ("_bytes", "_exhausted", "_renderer", "_seconds", "limits")

    def __init__(self, limits: VariableLimits = _DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._bytes = 0
        self._seconds = 0.0
        self._renderer: _Renderer | None = None  # made with the event's first frame
        self._exhausted = False

    @property
    def exhausted(self) -> bool:
        """True once the event's byte or time budget ran out; later frames get ``{}``."""
        return self._exhausted


class _Abort(BaseException):
    """Raised by the trace function when a repr ran out of time (user code can't catch it
    with ``except Exception``)."""


_collecting = False
"""True while the cyclic garbage collector runs (finalisers it calls must complete)."""
_watching_gc = False


def _note_collection(phase: str, _info: object) -> None:
    global _collecting
    _collecting = phase == "start"


def _watch_gc() -> None:
    """Follow the collector's phases from the first bounded call on (one callback for the
    process, left in place: adding and removing it around every call would cost more)."""
    global _watching_gc
    if not _watching_gc:
        import gc

        _watching_gc = True
        gc.callbacks.append(_note_collection)


def _bounded(call: Callable[[Any], Any], arg: object, deadline: float) -> Any:
    """``call(arg)``, interrupted with :class:`_Abort` once ``deadline`` has passed while
    Python code runs. The previous trace function is restored in every case."""
    if not _watching_gc:
        _watch_gc()
    previous = sys.gettrace()
    ticks = 0

    def tracer(frame: types.FrameType, event: str, _arg: object) -> Any:
        nonlocal ticks
        if event == "call":  # on 3.11 `while True: pass` emits opcode events, no line events
            frame.f_trace_opcodes = True  # (3.12 ignores this, but reports backward jumps)
        ticks += 1
        if ticks >= _CHECK_EVERY and (event != "line" or _LINE_EVENTS_RAISE):
            ticks = 0
            if perf_counter() > deadline and not _collecting and _interruptible(frame.f_code):
                raise _Abort
        return tracer

    sys.settrace(tracer)
    try:
        return call(arg)
    finally:
        sys.settrace(previous)


_interruptible_codes: dict[types.CodeType, bool] = {}


def _interruptible(code: types.CodeType) -> bool:
    """Whether the bound may cut this code short: not the standard library, an installed
    package or this library. A weakref callback or finaliser that the garbage collector
    runs in the middle of a repr (``WeakSet._remove``, say) is traced too, and must not be
    interrupted; nor may the collector callback that tells when finalisers run."""
    found = _interruptible_codes.get(code)
    if found is None:
        from .frames import is_library_path

        filename = code.co_filename
        found = not is_library_path(filename) and not is_own_file(filename)
        if len(_interruptible_codes) > 4096:
            _interruptible_codes.clear()
        _interruptible_codes[code] = found
    return found


def bounded_str(value: object, seconds: float) -> str:
    """``str(value)`` for an object whose ``__str__`` is Python code, cut off after
    ``seconds`` (an exception's message: its ``__str__`` may loop). Never raises
    ``Exception``; failures become ``<Name object (str failed|too slow)>``."""
    try:
        text = _bounded(str, value, perf_counter() + seconds)
        if type(text) is not str:
            raise TypeError("__str__ returned a non-string")
        return str(text)
    except _Abort:
        return f"<{_qualname(type(value))} object (str too slow)>"
    except Exception:
        return f"<{_qualname(type(value))} object (str failed)>"


def _qualname(cls: type, descriptor: Any = _TYPE_QUALNAME) -> str:
    try:
        name = descriptor.__get__(cls)
        return name if type(name) is str else "object"
    except Exception:
        return "object"


def _clean(text: str) -> str:
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _clip(text: str, limit: int, cut: bool = False) -> str:
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


class _Renderer:
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
            if -_INT_MAX <= value <= _INT_MAX:
                return value
            return _clip(_int_text(value), self.limits.max_value_length)
        if kind is str or issubclass(kind, str):
            return self._string(value, self.limits.max_value_length, quoted=False)
        if value is None or kind is bool:
            return value
        if kind is float:
            return value if math.isfinite(value) else repr(value)
        limit = self.limits.max_value_length
        return _clip(self.text(value, 1, limit), limit)

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
        return _clip(window, room, cut)

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
                    raise _Abort
                text = _bounded(repr, value, self.value_deadline)
        except _Abort:
            return f"<{_qualname(kind)} object (repr too slow)>"
        except Exception:
            logger.debug("repr() of a local variable failed", exc_info=True)
            return f"<{_qualname(kind)} object (repr failed)>"
        window = str.__getitem__(text, slice(0, room + _SCRUB_MARGIN))
        return _clip(self.scrubber.scrub_text(window), room, str.__len__(text) > len(window))

    def _container(self, value: Any, kind: type, base: Any, depth: int, room: int) -> str:
        opening, closing = _BRACKETS[base]
        fields = _namedtuple_fields(kind, value) if base is tuple and kind is not tuple else None
        total: int = base.__len__(value)
        if kind is not base or (total == 0 and base in (set, frozenset)):
            name = _qualname(kind, _TYPE_NAME)  # like the reprs of Counter and namedtuples
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
        max_items = self.limits.max_items
        sensitive = self.scrubber.name_is_sensitive
        quoted = self._quoted
        text = self.text
        try:
            parts: list[str] = []
            used = len(opening) + len(closing)
            # The items to show are taken first: a repr among them may change the container,
            # and iterating a dict, set or deque that changes size raises.
            if base is dict:
                items = list(islice(dict.items(value), max_items))
            else:
                items = list(
                    zip(fields or _repeat(_NO_LABEL), islice(base.__iter__(value), max_items))
                )
            for label, item in items:
                left = room - used
                if len(parts) >= max_items or left <= 0:
                    break
                # Short exact strings (most keys, many values) come from a cache; everything
                # else goes through text(). A key that names a secret hides its value.
                if label is _NO_LABEL:
                    part, hidden = "", False
                elif type(label) is str and len(label) < _QUOTED_LENGTH < left:
                    part = quoted(label) + ": " if base is dict else f"{label}="
                    hidden = sensitive(label)
                else:
                    part = text(label, depth + 1, left) + ": " if base is dict else f"{label}="
                    hidden = (type(label) is str or issubclass(type(label), str)) and sensitive(
                        str.__getitem__(label, slice(0, 256))
                    )
                if hidden:
                    part += _QUOTED_MASK
                else:
                    item_kind = type(item)
                    if item_kind is int and -_INT_MAX <= item <= _INT_MAX:
                        part += int.__repr__(item)
                    elif item_kind is str and len(item) < _QUOTED_LENGTH < left - len(part):
                        part += quoted(item)
                    else:
                        part += text(item, depth + 1, left - len(part))
                parts.append(part)
                used += len(part) + 2
        finally:
            path.discard(id(value))
        if len(parts) < total:
            parts.append(f"... <{total - len(parts)} more>")
        elif total == 1 and kind is tuple:
            closing = "," + closing
        return opening + ", ".join(parts) + closing


def _namedtuple_fields(kind: type, value: tuple[object, ...]) -> tuple[str, ...] | None:
    try:
        fields = _TYPE_DICT.__get__(kind).get("_fields")
    except Exception:
        return None
    if type(fields) is not tuple or len(fields) != tuple.__len__(value):
        return None
    return fields if all(type(f) is str for f in fields) else None


def serialize_locals(
    variables: Mapping[str, object], budget: Budget, scrubber: Scrubber
) -> dict[str, object]:
    """JSON-safe dict for one frame: {name: value}. Never raises."""
    if budget._exhausted:
        return {}
    start = perf_counter()
    try:
        return _serialize(variables, budget, scrubber, start)
    except Exception:
        internal_error("serialising local variables failed")
        return {}
    finally:
        budget._seconds += perf_counter() - start


def _serialize(
    variables: Mapping[str, object], budget: Budget, scrubber: Scrubber, start: float
) -> dict[str, object]:
    limits = budget.limits
    deadline = start + limits.max_seconds_per_event - budget._seconds
    try:  # f_locals is a dict, or on 3.13+ a proxy we only read; anything else may be hostile
        if type(variables) is dict:
            items: list[tuple[Any, object]] = list(dict.items(variables))
        else:
            items = _bounded(lambda m: [(k, v) for k, v in m.items()], variables, deadline)
    except (_Abort, Exception):
        logger.debug("could not read a frame's local variables", exc_info=True)
        return {}
    renderer = budget._renderer
    if renderer is None or renderer.scrubber is not scrubber:
        renderer = budget._renderer = _Renderer(limits, scrubber)
    renderer.deadline = deadline
    top, name_is_sensitive = renderer.top, scrubber.name_is_sensitive
    max_variables, max_bytes = limits.max_variables_per_frame, limits.max_bytes_per_event
    used = budget._bytes
    out: dict[str, object] = {}
    more = 0
    for name, value in items:
        if type(name) is str and len(name) > 4 and name[:2] == "__" and name[-2:] == "__":
            continue
        if len(out) >= max_variables:
            more += 1
            continue
        if used >= max_bytes or perf_counter() >= deadline:
            budget._bytes = used
            budget._exhausted = True
            out["..."] = "<budget exhausted>"
            return out
        if type(name) is str and len(name) <= 256 and name.isascii():
            key = name  # a plain identifier: the usual case
            sensitive = name_is_sensitive(key)
        elif issubclass(type(name), str):
            key = _clip(str.__getitem__(name, slice(0, 256)), 256)
            sensitive = name_is_sensitive(key)
        else:
            key, sensitive = renderer.text(name, 1, 256), False
        if sensitive:
            rendered: object = MASK
        elif type(value) is int and -_INT_MAX <= value <= _INT_MAX:  # no need for top()
            rendered = value
        else:
            renderer.value_deadline = 0.0
            try:
                rendered = top(value)
            except Exception:  # a value no rule above foresaw: lose it, not the whole frame
                logger.debug("could not render a local variable", exc_info=True)
                rendered = "<unrepresentable>"
        out[key] = rendered
        # names plus values as rendered; numbers, booleans and None count as 8 characters
        used += len(key) + (len(rendered) if type(rendered) is str else 8)
    budget._bytes = used
    if more:
        out["..."] = f"<{more} more>"
    return out
