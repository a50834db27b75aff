"""Tracebacks seen before: their kept frames and grouping parts, remembered per stack.

A program that fails once tends to fail the same way again: the same code objects at the
same instructions. For such a traceback, :meth:`Stacks.read` costs one pass over its
entries (code object and instruction offset of each) and one dictionary lookup, instead of
describing, filtering and trimming each frame (:meth:`FrameReader.read`), detaching it
(:meth:`FrameReader.detach_all`) and finding its grouping parts
(:func:`~posthog_exceptions._capture.fingerprint.default_parts`) again.

What is remembered is what a code location always says: its :class:`Site` (module,
function, paths, in_app, whether it is the library's own), which frames are kept after
trimming, and (``capture_locals`` off) their shared frame-less :class:`Info`. Remembered
too, when a stack is first seen, is whether its modules hide their frames
(``__tracebackhide__`` in the module globals); a stack with a function that may hide its
frame from its locals is never remembered, as that can differ from one call to the next.
The variables (``capture_locals``) are read from each capture's own frames, as always.

Keys are the ids of the code objects with the offsets: each entry holds its code objects
(through its sites), so no id is reused while the entry lives. At most
:data:`_LIMIT` stacks are kept; then the cache starts again.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import CodeType, TracebackType
from typing import Any

from .frames import FrameReader, Info, Site

_LIMIT = 1024


class Stack:
    """A remembered stack: its kept frames (shared Infos, or with locals, where each comes
    from: index in the traceback, line), how many were trimmed and where, and the
    in-app frames' grouping keys (see :func:`.fingerprint.default_parts`). The shared
    Infos are one tuple that every capture of the stack is handed (read-only), and
    ``rendered`` is what :func:`.exception_list.render` made of them once, for every
    event of the stack."""

    __slots__ = ("gap", "infos", "keys", "omitted", "plan", "rendered")

    def __init__(
        self,
        infos: tuple[Info, ...] | None,
        plan: list[tuple[int, int, int, Site]] | None,
        omitted: int,
        gap: int,
        keys: tuple[str, ...],
    ) -> None:
        self.infos = infos
        self.plan = plan
        self.omitted = omitted
        self.gap = gap
        self.keys = keys
        self.rendered: Any = None


class Stacks:
    """The remembered stacks of one :class:`FrameReader`."""

    def __init__(self, reader: FrameReader) -> None:
        self.reader = reader
        self.share = not reader.options.capture_locals  # no variables: frame-less Infos
        self._stacks: dict[tuple[int, ...], Stack] = {}

    def read(self, tb: TracebackType | None) -> tuple[Sequence[Info], int, int, Stack | None]:
        """The kept frames of ``tb`` (see :meth:`FrameReader.read`), how many were left
        out, where, and the remembered stack (``None``: not remembered; its ``keys`` are
        the frames' grouping keys, and with :attr:`share` its ``infos`` are the frames)."""
        key: list[int] = []
        add = key.append
        entry = tb
        while entry is not None:
            add(id(entry.tb_frame.f_code))
            add(entry.tb_lasti)
            entry = entry.tb_next
        stack_key = tuple(key)
        stack = self._stacks.get(stack_key)
        if stack is None:
            return self._first(_entries(tb), stack_key)
        if stack.infos is not None:
            return stack.infos, stack.omitted, stack.gap, stack
        assert stack.plan is not None
        entries = _entries(tb)
        infos = [
            Info(entries[index].tb_frame, lineno, lasti, site)
            for index, lineno, lasti, site in stack.plan
        ]
        return infos, stack.omitted, stack.gap, stack

    def _first(
        self, entries: list[TracebackType], stack_key: tuple[int, ...]
    ) -> tuple[Sequence[Info], int, int, Stack | None]:
        """A stack not seen before: read it the long way, and remember it if it may be."""
        reader = self.reader
        raw = [(tb.tb_frame, tb.tb_lineno or 0, tb.tb_lasti) for tb in entries]
        kept, omitted, gap = reader.read(raw)
        if any(_hideable(frame.f_code) for frame, _, _ in raw):
            return kept, omitted, gap, None
        keys = _keys(kept)
        result: Sequence[Info] = kept
        if self.share:
            result = shared = tuple(reader.detach_all(kept, None)[0])
            stack = Stack(shared, None, omitted, gap, keys)
        else:
            where = {id(frame): index for index, (frame, _, _) in enumerate(raw)}
            plan = [(where[id(info.frame)], info.lineno, info.lasti, info.site) for info in kept]
            stack = Stack(None, plan, omitted, gap, keys)
        if len(self._stacks) >= _LIMIT:
            self._stacks.clear()
        self._stacks[stack_key] = stack
        return result, omitted, gap, stack


def _entries(tb: TracebackType | None) -> list[TracebackType]:
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    return entries


def _hideable(code: CodeType) -> bool:
    """Whether the function may hide its frame from its locals (``__tracebackhide__``)."""
    try:
        return "__tracebackhide__" in code.co_varnames
    except Exception:
        return True


def _keys(infos: list[Info]) -> tuple[str, ...]:
    """The grouping keys of the frames the fingerprint counts: the in-app ones, else all."""
    counted = [info for info in infos if info.site.in_app] or infos
    return tuple([info.site.key for info in counted if info.site.key])
