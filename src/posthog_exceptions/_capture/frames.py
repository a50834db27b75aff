"""Tracebacks and call stacks → stack frames in PostHog's wire format.

Frames go entry point first and crash site last (wire-format §3). For each frame:

- ``filename`` is independent of where the code is installed: the path of the
  module relative to the ``sys.path`` entry it was imported from (derived from
  the module name, e.g. ``myapp/billing.py``), else relative to the longest
  matching ``sys.path`` entry, else the path as Python knows it. ``abs_path``
  keeps the real path on this host.
- ``function`` is the qualified name (``Class.method``, ``outer.<locals>.inner``):
  ``co_qualname`` on Python ≥ 3.11, and on older Pythons recovered from the
  module globals or the class of the frame's first argument.
- ``in_app`` is always set: false for the standard library, site-/dist-packages
  and frozen modules, true otherwise; ``in_app_include`` / ``in_app_exclude``
  (module prefixes) and ``project_root`` (only files under it are in-app) adjust it.
- ``context_line`` with ``context_lines`` lines either side, read from regular files
  of bounded size only (:mod:`posthog_exceptions._capture.source`; shared with
  :mod:`linecache`) and kept per file and line (a source file is read and split
  once per process, not per capture), each line capped at
  :data:`MAX_LINE_LENGTH` characters. Like tracebacks of a running program,
  they show the source as it was when first read.
- Frames of the library itself and frames whose locals or globals set
  ``__tracebackhide__`` are left out.
- Stacks deeper than ``max_frames`` keep the first fifth (the entry point side)
  and the rest from the crash site; a synthetic frame marks the gap. Only the
  kept frames pay for context lines and locals, so a 5,000-frame
  ``RecursionError`` costs little more than a 250-frame one.

Speed: a :class:`FrameReader` (one per client) keeps, per code object, what
does not change between captures (module, qualified name, paths, in_app, the
fingerprint key: a :class:`Site`), and per ``(code, line, instruction)`` the
finished wire dict and its JSON. A whole traceback seen before is cheaper still
(:mod:`.stacks`); the event is serialised by splicing the cached
JSON of its frames. The cached frames are shared between events and read-only
(see :mod:`posthog_exceptions._capture.exception_list`, which owns the sharing rule).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping, Sequence
from types import CodeType, FrameType, MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from posthog_exceptions._own import is_own_module
from posthog_exceptions._serialize import dumps, dumps_made, safe_bool

from .detached import SOURCE_GLOBALS, Detached
from .frame_locals import read_variables as _read_variables
from .paths import absolute, in_app, qualname, relative
from .scrub import for_options
from .source import source_lines

if TYPE_CHECKING:
    from posthog_exceptions._config import Options

    from .scrub import Scrubber
    from .variables import Budget

MAX_LINE_LENGTH = 512
_HAS_QUALNAME = sys.version_info >= (3, 11)
_CACHE_LIMIT = 4096
_PEM_LOOKBACK = 60  # lines: a 4096-bit RSA key in PEM is about 50
_COMPREHENSIONS = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>"})

Raw = tuple[FrameType, int, int]
"""(frame, line number, bytecode offset or -1): one traceback entry, as a plain tuple."""


class Site:
    """What a frame's code object always says: where it is, what it is called, in_app."""

    __slots__ = (
        "abs_path", "code", "filename", "function", "hideable", "in_app", "key", "module", "own"
    )  # fmt: skip

    def __init__(self, frame: FrameType, options: Options) -> None:
        code = frame.f_code
        self.code = code
        name = frame.f_globals.get("__name__")
        self.module: str = name if isinstance(name, str) else ""
        self.own = is_own_module(self.module)
        self.hideable = "__tracebackhide__" in code.co_varnames
        self.function: str = qualname(frame, code)
        self.abs_path = absolute(code.co_filename)
        self.filename = relative(self.abs_path, self.module)
        self.in_app = in_app(self.abs_path, self.module, options)
        self.key = _fingerprint_key(self)
        """``module:function`` for the grouping key; empty for frames it skips."""


class Info(NamedTuple):
    """One kept frame: the raw traceback entry and its :class:`Site`."""

    frame: FrameType
    lineno: int
    lasti: int
    site: Site


class FrameReader:
    """Turns tracebacks into frames for one set of options, caching what repeats."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.custom = options.frame_format == "custom"
        self.scrubber = for_options(options)
        # Keyed by id(code), each entry checked to hold that very code object: code objects
        # compare equal by their contents (bytecode, names, first line — not the file), so
        # keyed by code, two copies of one function in two files would share a description.
        self._sites: dict[int, Site] = {}
        # (id(code), line, instruction) -> (code, read-only frame, its JSON, the dict
        # behind the view)
        self._wires: dict[tuple[int, int, int], tuple[CodeType, Mapping[str, Any], bytes, Any]]
        self._wires = {}
        self._detached: dict[tuple[int, int, int], Info] = {}  # shared frame-less Infos

    # ------------------------------------------------------------------ reading

    def read(self, raw: list[Raw]) -> tuple[list[Info], int, int]:
        """The visible frames of ``raw`` (entry first), trimmed to ``max_frames``: the kept
        frames, how many were left out, and where the gap is."""
        sites, shared = self._sites, self._detached
        share = not self.options.capture_locals  # no variables to read: no frame needed
        visible: list[Any] = []
        for frame, lineno, lasti in raw:
            code = frame.f_code
            site = sites.get(id(code))
            if site is None or site.code is not code:
                site = self._site(frame)
            if site.own:
                continue
            hide = frame.f_globals.get("__tracebackhide__")
            if (hide is not None and safe_bool(hide)) or (site.hideable and _hidden(frame)):
                continue
            if share:  # the frame-less Info of this location, when there is one already
                found = shared.get((id(code), lineno, lasti))
                if found is not None and found.frame.f_code is code and found.site is site:
                    visible.append(found)
                    continue
            visible.append((frame, lineno, lasti, site))
        kept, omitted, gap = trim(visible, self.options.max_frames)
        return [Info(*e) if type(e) is tuple else e for e in kept], omitted, gap

    def _site(self, frame: FrameType) -> Site:
        try:
            site = Site(frame, self.options)
        except Exception:  # a hostile module or frame: describe it as unknown
            site = _unknown_site(frame)
        if len(self._sites) >= _CACHE_LIMIT:
            self._sites.clear()
        code = frame.f_code
        if _HAS_QUALNAME or site.function != code.co_name or not code.co_argcount:
            self._sites[id(code)] = site
        return site

    def detach(self, info: Info, variables: tuple[Budget, Scrubber] | None) -> Info:
        """``info`` without its frame (see :class:`Detached`); with ``variables``, the
        frame's variables are read now, while they are what they were at the capture.
        Without variables, the events of one code location share one ``Info``."""
        frame = info.frame
        code = frame.f_code
        values = None
        if variables is not None and info.site.in_app and not self.custom:
            values = _read_variables(frame, variables)
        key = (id(code), info.lineno, info.lasti)
        if values is None:
            shared = self._detached.get(key)
            if shared is not None and shared.frame.f_code is code:
                return shared
        found = self._wires.get(key)
        kept = None
        if found is None or found[0] is not code:  # its source will be read: how to find it
            module = frame.f_globals
            kept = {name: module[name] for name in SOURCE_GLOBALS if name in module}
        detached = Info(Detached(code, kept, values), info.lineno, info.lasti, info.site)  # type: ignore[arg-type]
        if values is None:
            if len(self._detached) >= _CACHE_LIMIT:
                self._detached.clear()
            self._detached[key] = detached
        return detached

    def detach_all(
        self, infos: Sequence[Info], variables: tuple[Budget, Scrubber] | None
    ) -> tuple[list[Info], int]:
        """:meth:`detach` each of ``infos``; also returns how many are not shared ones."""
        shared = self._detached
        plain = variables is None or self.custom
        out: list[Info] = []
        own = 0
        for info in infos:
            if type(info.frame) is Detached:  # type: ignore[comparison-overlap]  # shared
                out.append(info)
                continue
            if plain or not info.site.in_app:  # no variables: maybe one shared already
                code = info.frame.f_code
                found = shared.get((id(code), info.lineno, info.lasti))
                if found is not None and found.frame.f_code is code:
                    out.append(found)
                    continue
            out.append(self.detach(info, variables))
            own += 1
        return out, own

    # ------------------------------------------------------------------ writing

    def wire(
        self, info: Info, variables: tuple[Budget, Scrubber] | None = None
    ) -> tuple[Mapping[str, Any], bytes]:
        """The frame's wire form and its JSON: the cached, read-only form shared with other
        events, or (with local variables) a dict of this event's own.

        With local variables, the cached JSON of the rest of the frame is reused: the
        variables are encoded alone and spliced in before its closing brace."""
        site = info.site
        if variables is not None and site.in_app and not self.custom:
            base, encoded, behind = self._base(info)
            values = _read_variables(info.frame, variables)
            if not values:
                return base, encoded
            wire = behind.copy()  # (dict.copy: the view's own copy goes key by key)
            wire["code_variables"] = values
            return wire, encoded[:-1] + b',"code_variables":' + dumps_made(values) + b"}"
        base, encoded, _ = self._base(info)
        return base, encoded

    def _base(self, info: Info) -> tuple[Mapping[str, Any], bytes, dict[str, Any]]:
        code = info.frame.f_code
        key = (id(code), info.lineno, info.lasti)
        found = self._wires.get(key)
        if found is None or found[0] is not code:
            wire = self._build(info)
            behind = freeze(wire)
            found = (code, MappingProxyType(behind), dumps(wire), behind)
            if len(self._wires) >= _CACHE_LIMIT:
                self._wires.clear()
            self._wires[key] = found
        return found[1], found[2], found[3]

    def _build(self, info: Info) -> dict[str, Any]:
        """One frame in the variant chosen by ``frame_format`` (wire-format §3)."""
        site = info.site
        custom = self.custom
        wire: dict[str, Any] = (
            {"platform": "custom", "lang": "python"} if custom else {"platform": "python"}
        )
        wire["filename"] = site.filename
        if not custom:
            wire["abs_path"] = site.abs_path
        if site.module:
            wire["module"] = site.module
        wire["function"] = site.function
        wire["lineno"] = info.lineno
        colno = _column(info.frame.f_code, info.lasti)
        if colno is not None:
            wire["colno"] = colno
        if self.options.context_lines:
            context = _read_context(info, self.options.context_lines, custom, self.scrubber)
            if context is not None:
                wire["context_line"], wire["pre_context"], wire["post_context"] = context
        if custom:
            wire["resolved"] = True
        wire["in_app"] = site.in_app
        return wire


def freeze(frame: dict[str, Any]) -> dict[str, Any]:
    """``frame`` with its lists turned into tuples, for the cache, which hands out only a
    read-only view of it: the frame is shared by every event with it
    (:mod:`~posthog_exceptions._capture.exception_list`)."""
    return {key: tuple(value) if type(value) is list else value for key, value in frame.items()}


def from_stack(frame: FrameType | None) -> list[Raw]:
    """The call stack ending at ``frame``, entry first (for exceptions never raised)."""
    frames = []
    while frame is not None:
        frames.append((frame, frame.f_lineno or 0, frame.f_lasti))
        frame = frame.f_back
    frames.reverse()
    return frames


def _hidden(frame: FrameType) -> bool:
    try:
        return safe_bool(frame.f_locals.get("__tracebackhide__"))
    except Exception:
        return False


def trim(frames: list[Any], max_frames: int) -> tuple[list[Any], int, int]:
    """Keep at most ``max_frames``: the first fifth and the crash-site side.

    Returns the kept frames, how many were left out, and where the gap is."""
    if len(frames) <= max_frames:
        return frames, 0, 0
    head = max(1, max_frames // 5)
    tail = max_frames - head
    return frames[:head] + frames[-tail:], len(frames) - max_frames, head


def _read_context(
    info: Info, size: int, custom: bool, scrubber: Scrubber
) -> tuple[str, list[str], list[str]] | None:
    """The line and ``size`` lines either side, scrubbed (a hard-coded secret next to the
    crash stays home). The lines read start up to :data:`_PEM_LOOKBACK` earlier, so that a
    private-key block begun above the window is known to be one."""
    lines = _source_lines(info.frame.f_code.co_filename, info.frame.f_globals)
    index = info.lineno - 1
    if not 0 <= index < len(lines):
        return None
    if custom:
        size = min(size, 10)
    start = max(0, index - size)
    first = max(0, start - _PEM_LOOKBACK)
    read = scrubber.scrub_lines([_line(line) for line in lines[first : index + 1 + size]])
    line = index - first
    pre = read[start - first : line]
    if custom:
        pre.reverse()  # the custom variant lists the line just above first
    return read[line], pre, read[line + 1 :]


def _source_lines(filename: str, f_globals: dict[str, Any]) -> list[Any]:
    """The file's lines (see :mod:`posthog_exceptions._capture.source`: only regular
    files below a size bound are read). A loader's ``get_source()`` can raise anything,
    and anyone can put anything in ``linecache.cache``: the result is a plain list, whose
    items :func:`_line` checks one by one."""
    try:
        return source_lines(filename, f_globals)
    except Exception:
        return []


def _line(line: object) -> str:
    text = line if type(line) is str else _junk_line(line)
    text = text.rstrip("\r\n")
    if len(text) > MAX_LINE_LENGTH:
        text = text[: MAX_LINE_LENGTH - 3] + "..."
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _junk_line(value: Any) -> str:
    """A source line that is not a str: bytes are decoded, anything else is left out."""
    kind = type(value)
    try:
        if issubclass(kind, str):
            return str.__str__(value)
        if issubclass(kind, (bytes, bytearray)):
            return bytes(value).decode("utf-8", "replace")
    except Exception:
        pass
    return ""


def _column(code: CodeType, lasti: int) -> int | None:
    """1-based column of the failing expression (Python ≥ 3.11 only)."""
    if not _HAS_QUALNAME or lasti < 0:
        return None
    try:
        positions = code.co_positions()  # type: ignore[attr-defined]
        column = next(itertools.islice(positions, lasti // 2, None))[2]
    except (StopIteration, AttributeError, ValueError):
        return None
    return None if column is None else column + 1


def _fingerprint_key(site: Site) -> str:
    """``module:function`` as the grouping key sees a frame (see ``_fingerprint``)."""
    function = site.function.rpartition("<locals>.")[2]
    if function.rpartition(".")[2] in _COMPREHENSIONS:
        return ""  # Python 3.12 inlines comprehensions: they must not count
    module = site.module
    if not module or module == "__main__":
        name = site.filename
        module = (name[:-3] if name.endswith(".py") else name).replace("/", ".")
    return f"{module}:{function}"


def _unknown_site(frame: FrameType) -> Site:
    site = Site.__new__(Site)
    site.code = frame.f_code
    site.module, site.own, site.hideable = "", False, False
    site.function = str(getattr(frame.f_code, "co_name", "<unknown>"))
    site.abs_path = site.filename = "<unknown>"
    site.in_app = False
    site.key = f"<unknown>:{site.function}"
    return site
