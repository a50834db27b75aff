"""Calls into user code bounded in time: ``repr()`` of a local variable, ``str()`` of an
exception whose ``__str__`` is Python code.

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
"""

from __future__ import annotations

import sys
import types
from time import perf_counter
from typing import Any, Callable

from posthog_exceptions._own import is_own_file

from .paths import is_library_path

_CHECK_EVERY = 16  # trace events between two clock reads
# Python 3.9 loses an exception raised from a "line" event of a loop that jumps to itself
# (the loop then runs on, untraced); raising from the "opcode" event next to it works.
_LINE_EVENTS_RAISE = sys.version_info >= (3, 10)
_TYPE_QUALNAME: Any = vars(type)["__qualname__"]


class Abort(BaseException):
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


def call_bounded(call: Callable[[Any], Any], arg: object, deadline: float) -> Any:
    """``call(arg)``, interrupted with :class:`Abort` once ``deadline`` has passed while
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
                raise Abort
        return tracer

    sys.settrace(tracer)
    try:
        return call(arg)
    finally:
        sys.settrace(previous)


_interruptible_codes: dict[int, tuple[types.CodeType, bool]] = {}
"""id(code) -> (code, interruptible): by identity, as the frame reader's caches."""


def _interruptible(code: types.CodeType) -> bool:
    """Whether the bound may cut this code short: not the standard library, an installed
    package or this library. A weakref callback or finaliser that the garbage collector
    runs in the middle of a repr (``WeakSet._remove``, say) is traced too, and must not be
    interrupted; nor may the collector callback that tells when finalisers run."""
    found = _interruptible_codes.get(id(code))
    if found is not None and found[0] is code:
        return found[1]
    filename = code.co_filename
    answer = not is_library_path(filename) and not is_own_file(filename)
    if len(_interruptible_codes) > 4096:
        _interruptible_codes.clear()
    _interruptible_codes[id(code)] = (code, answer)
    return answer


def bounded_str(value: object, seconds: float) -> str:
    """``str(value)`` for an object whose ``__str__`` is Python code, cut off after
    ``seconds`` (an exception's message: its ``__str__`` may loop). Never raises
    ``Exception``; failures become ``<Name object (str failed|too slow)>``."""
    try:
        text = call_bounded(str, value, perf_counter() + seconds)
        if type(text) is not str:
            raise TypeError("__str__ returned a non-string")
        return str(text)
    except Abort:
        return f"<{qualname_of(type(value))} object (str too slow)>"
    except Exception:
        return f"<{qualname_of(type(value))} object (str failed)>"


def qualname_of(cls: type, descriptor: Any = _TYPE_QUALNAME) -> str:
    try:
        name = descriptor.__get__(cls)
        return name if type(name) is str else "object"
    except Exception:
        return "object"
