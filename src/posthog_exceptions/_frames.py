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
- ``context_line`` with ``context_lines`` lines either side, read through
  :mod:`linecache` and kept per file and line (a source file is read and split
  once per process, not per capture), each line capped at
  :data:`MAX_LINE_LENGTH` characters. Like tracebacks of a running program,
  they show the source as it was when first read.
- Frames of the library itself and frames whose locals or globals set
  ``__tracebackhide__`` are left out.
- Stacks deeper than ``max_frames`` keep the first fifth (the entry point side)
  and the rest from the crash site; a synthetic frame marks the gap. Only the
  kept frames pay for context lines and locals, so a 5,000-frame
  ``RecursionError`` costs little more than a 250-frame one.
"""

from __future__ import annotations

import itertools
import linecache
import os
import sys
from types import CodeType, FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ._scrub import Scrubber
    from ._variables import Budget

MAX_LINE_LENGTH = 512
_OWN_PACKAGE = __name__.rpartition(".")[0]
_HAS_QUALNAME = sys.version_info >= (3, 11)
_CACHE_LIMIT = 4096


class FrameOptions(NamedTuple):
    context_lines: int = 5
    max_frames: int = 250
    in_app_include: tuple[str, ...] = ()
    in_app_exclude: tuple[str, ...] = ()
    project_root: str | None = None
    frame_format: str = "python"


class RawFrame(NamedTuple):
    frame: FrameType
    lineno: int
    lasti: int  # bytecode offset, -1 when unknown


class FrameInfo(NamedTuple):
    """What the fingerprint and the wire format need to know about one frame."""

    raw: RawFrame
    module: str
    function: str
    abs_path: str
    filename: str
    in_app: bool


def from_traceback(tb: TracebackType | None) -> list[RawFrame]:
    """The frames of a traceback, outermost (entry) first."""
    frames = []
    while tb is not None:
        frames.append(RawFrame(tb.tb_frame, tb.tb_lineno or 0, tb.tb_lasti))
        tb = tb.tb_next
    return frames


def from_stack(frame: FrameType | None) -> list[RawFrame]:
    """The call stack ending at ``frame``, entry first (for exceptions never raised)."""
    frames = []
    while frame is not None:
        frames.append(RawFrame(frame, frame.f_lineno or 0, frame.f_lasti))
        frame = frame.f_back
    frames.reverse()
    return frames


def visible(frames: list[RawFrame]) -> list[RawFrame]:
    """Drop the library's own frames and those hidden with ``__tracebackhide__``."""
    return [raw for raw in frames if not _hidden(raw.frame)]


def _hidden(frame: FrameType) -> bool:
    f_globals = frame.f_globals
    module = f_globals.get("__name__")
    if isinstance(module, str) and (
        module == _OWN_PACKAGE or module.startswith("posthog_exceptions.")
    ):
        return True
    if f_globals.get("__tracebackhide__"):
        return True
    if "__tracebackhide__" in frame.f_code.co_varnames:
        try:
            return bool(frame.f_locals.get("__tracebackhide__"))
        except Exception:
            return False
    return False


def trim(frames: list[Any], max_frames: int) -> tuple[list[Any], int, int]:
    """Keep at most ``max_frames``: the first fifth and the crash-site side.

    Returns the kept frames, how many were left out, and where the gap is."""
    if len(frames) <= max_frames:
        return frames, 0, 0
    head = max(1, max_frames // 5)
    tail = max_frames - head
    return frames[:head] + frames[-tail:], len(frames) - max_frames, head


def describe(frames: list[RawFrame], options: FrameOptions) -> list[FrameInfo]:
    """Resolve module, function, paths and in_app for each frame (cheap, cached)."""
    infos = []
    for raw in frames:
        frame = raw.frame
        code = frame.f_code
        module = frame.f_globals.get("__name__")
        module = module if isinstance(module, str) else ""
        abs_path, filename, in_app = _locate(code.co_filename, module, options)
        infos.append(FrameInfo(raw, module, _qualname(frame, code), abs_path, filename, in_app))
    return infos


# ---------------------------------------------------------------- wire format


def to_wire(
    info: FrameInfo,
    options: FrameOptions,
    variables: tuple[Budget, Scrubber] | None = None,
) -> dict[str, Any]:
    """One frame in the variant chosen by ``frame_format`` (wire-format §3)."""
    raw = info.raw
    custom = options.frame_format == "custom"
    wire: dict[str, Any] = (
        {"platform": "custom", "lang": "python"} if custom else {"platform": "python"}
    )
    wire["filename"] = info.filename
    if not custom:
        wire["abs_path"] = info.abs_path
    if info.module:
        wire["module"] = info.module
    wire["function"] = info.function
    wire["lineno"] = raw.lineno
    colno = _column(raw)
    if colno is not None:
        wire["colno"] = colno
    if options.context_lines:
        _add_context(wire, raw, options.context_lines, custom)
    if custom:
        wire["resolved"] = True
    wire["in_app"] = info.in_app
    if variables is not None and info.in_app and not custom:
        from ._variables import serialize_locals

        budget, scrubber = variables
        try:
            local_vars = raw.frame.f_locals
        except Exception:
            local_vars = {}
        values = serialize_locals(local_vars, budget, scrubber)
        if values:
            wire["code_variables"] = values
    return wire


def gap_marker(omitted: int, custom: bool) -> dict[str, Any]:
    """A synthetic frame standing for the frames trimmed out of a deep stack."""
    text = f"<{omitted} frames omitted>"
    head: dict[str, Any] = (
        {"platform": "custom", "lang": "python"} if custom else {"platform": "python"}
    )
    return {
        **head,
        "filename": text,
        "function": text,
        "lineno": 0,
        "in_app": False,
        "synthetic": True,
    }


Context = tuple[str, tuple[str, ...], tuple[str, ...]]
_contexts: dict[tuple[str, int, int, bool], Context | None] = {}


def _add_context(wire: dict[str, Any], raw: RawFrame, size: int, custom: bool) -> None:
    """``context_line`` and ``size`` lines either side, computed once per file and line."""
    key = (raw.frame.f_code.co_filename, raw.lineno, size, custom)
    try:
        context = _contexts[key]
    except KeyError:
        context = _read_context(raw, size, custom)
        if len(_contexts) >= _CACHE_LIMIT:
            _contexts.clear()
        _contexts[key] = context
    if context is not None:
        wire["context_line"] = context[0]
        wire["pre_context"] = list(context[1])
        wire["post_context"] = list(context[2])


def _read_context(raw: RawFrame, size: int, custom: bool) -> Context | None:
    lines = _source_lines(raw.frame.f_code.co_filename, raw.frame.f_globals)
    index = raw.lineno - 1
    if not 0 <= index < len(lines):
        return None
    if custom:
        size = min(size, 10)
    pre = [_line(line) for line in lines[max(0, index - size) : index]]
    if custom:
        pre.reverse()  # the custom variant lists the line just above first
    post = [_line(line) for line in lines[index + 1 : index + 1 + size]]
    return _line(lines[index]), tuple(pre), tuple(post)


def _source_lines(filename: str, f_globals: dict[str, Any]) -> list[str]:
    try:
        return linecache.getlines(filename, f_globals)
    except Exception:  # a loader's get_source() can raise anything
        return []


def _line(text: str) -> str:
    text = text.rstrip("\r\n")
    if len(text) > MAX_LINE_LENGTH:
        text = text[: MAX_LINE_LENGTH - 3] + "..."
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


_columns: dict[tuple[CodeType, int], int | None] = {}


def _column(raw: RawFrame) -> int | None:
    """1-based column of the failing expression (Python ≥ 3.11 only)."""
    if not _HAS_QUALNAME or raw.lasti < 0:
        return None
    code = raw.frame.f_code
    key = (code, raw.lasti)
    try:
        return _columns[key]
    except KeyError:
        pass
    try:
        positions = code.co_positions()  # type: ignore[attr-defined]
        column = next(itertools.islice(positions, raw.lasti // 2, None))[2]
    except (StopIteration, AttributeError, ValueError):
        column = None
    if len(_columns) >= _CACHE_LIMIT:
        _columns.clear()
    _columns[key] = found = None if column is None else column + 1
    return found


# ---------------------------------------------------------------- names and paths


_qualnames: dict[CodeType, str] = {}


def _qualname(frame: FrameType, code: CodeType) -> str:
    if _HAS_QUALNAME:
        return code.co_qualname  # type: ignore[attr-defined,no-any-return]
    cached = _qualnames.get(code)
    if cached is not None:
        return cached
    try:
        found = _find_qualname(frame, code)
    except Exception:
        found = None
    if found is None:
        return code.co_name
    if len(_qualnames) >= _CACHE_LIMIT:
        _qualnames.clear()
    _qualnames[code] = found
    return found


def _find_qualname(frame: FrameType, code: CodeType) -> str | None:
    """Python < 3.11: the defining function's ``__qualname__``, from the module globals
    or from the class of the first argument (``self``/``cls``)."""
    name = code.co_name
    candidate: Any = frame.f_globals.get(name)
    if getattr(candidate, "__code__", None) is code:
        return str(candidate.__qualname__)
    if not code.co_argcount:
        return None
    first = frame.f_locals.get(code.co_varnames[0])
    owner = first if isinstance(first, type) else type(first)
    for klass in owner.__mro__:
        attr: Any = klass.__dict__.get(name)
        func = getattr(attr, "__func__", attr)  # classmethod, staticmethod
        func = getattr(func, "fget", func)  # property
        if getattr(func, "__code__", None) is code:
            return str(func.__qualname__)
    return None


_locations: dict[tuple[str, str, FrameOptions], tuple[str, str, bool]] = {}


def _locate(co_filename: str, module: str, options: FrameOptions) -> tuple[str, str, bool]:
    key = (co_filename, module, options)
    found = _locations.get(key)
    if found is None:
        abs_path = _absolute(co_filename)
        found = (abs_path, _relative(abs_path, module), _in_app(abs_path, module, options))
        if len(_locations) >= _CACHE_LIMIT:
            _locations.clear()
        _locations[key] = found
    return found


def _absolute(path: str) -> str:
    if not path or path.startswith("<") or os.path.isabs(path):
        return path
    return os.path.abspath(path)


def _relative(abs_path: str, module: str) -> str:
    """The path below the import root: ``pkg/sub/mod.py`` for module ``pkg.sub.mod``."""
    if not abs_path or abs_path.startswith("<"):
        return abs_path or "<unknown>"
    parts = abs_path.replace("\\", "/").split("/")
    if module and module != "__main__":
        depth = module.count(".") + 1
        if parts[-1].startswith("__init__."):
            depth += 1
        if len(parts) > depth and _matches_module(parts[-depth:], module):
            return "/".join(parts[-depth:])
    best = ""
    for entry in sys.path:
        root = os.path.abspath(entry or ".")
        if abs_path.startswith(root.rstrip(os.sep) + os.sep) and len(root) > len(best):
            best = root
    if best:
        return os.path.relpath(abs_path, best).replace("\\", "/")
    return parts[-1]  # outside every import root: the file name is all that is portable


def _matches_module(tail: list[str], module: str) -> bool:
    names = [os.path.splitext(part)[0] for part in tail]
    if names[-1] == "__init__":
        names.pop()
    return names == module.split(".")


def _in_app(abs_path: str, module: str, options: FrameOptions) -> bool:
    if module and any(_under(module, prefix) for prefix in options.in_app_include):
        return True
    if module and any(_under(module, prefix) for prefix in options.in_app_exclude):
        return False
    if not abs_path or is_library_path(abs_path):
        return False
    if options.project_root is not None:
        root = os.path.abspath(options.project_root).rstrip(os.sep) + os.sep
        return abs_path.startswith(root)
    return True


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


_library_roots: tuple[str, ...] | None = None


def is_library_path(abs_path: str) -> bool:
    """Standard library (frozen modules included), site-packages or dist-packages."""
    global _library_roots
    if abs_path.startswith("<frozen"):
        return True
    parts = abs_path.replace("\\", "/").split("/")
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    if _library_roots is None:
        import sysconfig

        roots = set()
        for name in ("stdlib", "platstdlib"):
            path = sysconfig.get_paths().get(name)
            if path:
                roots.add(os.path.abspath(path).rstrip(os.sep) + os.sep)
                roots.add(os.path.realpath(path).rstrip(os.sep) + os.sep)
        _library_roots = tuple(roots)
    return abs_path.startswith(_library_roots)
