"""The key the inbox groups ``$exception`` events by: the one PostHog would give them.

An event that carries ``$exception_fingerprint`` is grouped by it, as PostHog does: a
client's fingerprint always wins; one longer than 64 characters is replaced by the
lowercase hex SHA-512 of it. Every other event (posthog-python's, posthog-js's, and this
library's with ``grouping="posthog"``, which send only ``$exception_client_fingerprint``)
gets the fingerprint PostHog's error-tracking processor, cymbal, computes on the server
(``rust/cymbal`` in PostHog/posthog: ``src/modes/processing/fingerprinting/mod.rs`` for
the algorithm, ``src/modes/processing/stages/grouping/fingerprint.rs`` for the choice
between a client's key, grouping rules and the automatic versions,
``src/modes/processing/normalization.rs`` for the wire-order fix-ups, and
``src/langs/*.rs`` / ``src/core/types/langs/*.rs`` for how each platform's raw frames
become the frames that are hashed). ``$exception_client_fingerprint`` is ignored, as
PostHog ignores it: it is a property like any other there.

What is hashed. The event's ``$exception_list`` is first put in canonical order the way
cymbal does, keyed on ``$lib``: posthog-python's list is reversed (a fix-up for that SDK's
old root-cause-first order, still applied to every version of it), and the frames of the
crash-first SDKs (posthog-android, -flutter, -php, -go, -rs, -elixir, -java, -server) are
reversed. Then one SHA-512 runs over the UTF-8 bytes of these pieces, concatenated with no
separator, and the key is its 128-character lowercase hex digest. For each exception in
list order: its ``type`` (``Error`` when missing or null); its ``value`` only when it has no
``stacktrace`` (an exception with a stack, even an empty one, is keyed without its
message); then its frames, each contributing its source file (if any), its module (if
any), and then its function name if the frame has a resolved name — else the raw function
name, the line and column numbers (as decimal text) and the language. Python frames and
this library's frames always have a resolved name (the function), so line numbers never
enter their key: the same bug raised from another line of the same function, or with
another message, is the same issue.

PostHog computes every version of the automatic key it knows and keeps the newest one
that already names an issue; a new issue is keyed by the newest version. The inbox starts
with no issues, so it uses the newest version, ``v2``: every frame of every exception;
source files reduced to their base name, without a query string, with build-hash runs
(8 or more letters and digits, at least one a digit) masked as ``*``; a module loses a
query string; unresolved frames give no line or column; a message (when it is hashed at
all) has quoted text masked as ``'*'``, ``0x`` hex, UUIDs and 16+ hex digits as ``*``,
numbers as ``#``, and is cut to 200 characters. ``version="v1"`` gives the older key,
which issues created before v2 still answer to: no normalisation, and only the in-app
frames (only the resolved ones, when any frame resolved) — or, with no in-app frame, only
the first frame. For v1 a Python frame is in-app unless the client said otherwise or it is
clearly library code (an ``abs_path`` under site-/dist-packages or a ``lib/pythonX.Y``
directory; without one, a site-/dist-packages file name or a standard-library module).

What cannot be reproduced locally, and what happens then. Symbol resolution: cymbal
fetches source maps (and uses uploaded symbol sets) to turn minified JavaScript, Hermes,
Java/ProGuard, Apple and native frames into real names and files; the inbox never fetches
anything. A ``web:javascript`` frame with a position is keyed as if no source map was
found: cymbal then takes a column past 300 as minified (keyed by raw name, and in v1 by
line and column) and anything else as the real name; a frame with a chunk id is keyed as
minified (no uploaded map). Other platforms' frames are keyed by file, module and function
as given. Custom grouping rules (a project's rules run before the automatic key and give
``custom-rule:<id>``) and merges or splits made in PostHog's UI are not known here. A newer
algorithm than v2, if PostHog has shipped one, is not reproduced either.
"""

from __future__ import annotations

import hashlib
import re
import sys
from typing import Any, Callable, NamedTuple

__all__ = ["VERSIONS", "fingerprint_of"]

VERSIONS = ("v1", "v2")
"""The automatic key's versions, oldest first; the last is the one new issues get."""

MANUAL_MAX_CHARS = 64
"""A client's ``$exception_fingerprint`` longer than this is replaced by its SHA-512."""

_REVERSED_LISTS = frozenset({"posthog-python"})
_CRASH_FIRST_FRAMES = frozenset(
    {
        "posthog-android",
        "posthog-flutter",
        "posthog-php",
        "posthog-go",
        "posthog-rs",
        "posthog-elixir",
        "posthog-java",
        "posthog-server",
    }
)
_JS_PLATFORMS = frozenset({"web:javascript", "javascript"})
_MINIFIED_COLUMN = 300

_LIBRARY_PATH = re.compile(r"[/\\](?:dist|site)-packages[/\\]")
_STDLIB_PATH = re.compile(r"[/\\][Ll]ib[/\\]python\d+(?:\.\d+)?[/\\]")
_BUILD_HASH = re.compile(r"[A-Za-z0-9]{8,}")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_HEX_ID = re.compile(
    r"0x[0-9a-fA-F]+"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MESSAGE_CHARS = 200


class Frame(NamedTuple):
    """A frame as cymbal hashes it, after turning the raw frame into its own shape."""

    source: str | None
    module: str | None
    resolved_name: str | None
    raw_name: str
    line: int | None
    column: int | None
    lang: str
    in_app: bool
    resolved: bool


def fingerprint_of(properties: dict[str, Any], *, version: str = VERSIONS[-1]) -> str:
    """The key PostHog would group an ``$exception`` event with these properties by.

    The client's ``$exception_fingerprint`` when it is a non-empty string, else the
    automatic key of ``$exception_list`` (see the module's documentation).
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown fingerprint version {version!r}; known: {VERSIONS}")
    manual = properties.get("$exception_fingerprint")
    if isinstance(manual, str) and manual:
        if len(manual) > MANUAL_MAX_CHARS:
            return hashlib.sha512(manual.encode()).hexdigest()
        return manual
    digest = hashlib.sha512()
    for exception, frames in _canonical(properties):
        _hash_exception(digest, exception, frames, version)
    return digest.hexdigest()


def _canonical(properties: dict[str, Any]) -> list[tuple[dict[str, Any], list[Frame] | None]]:
    """Each exception with its frames (``None``: no stack), in cymbal's canonical order."""
    entries = properties.get("$exception_list")
    if not isinstance(entries, list):
        return []
    lib = properties.get("$lib")
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        stack = entry.get("stacktrace")
        frames = None
        if isinstance(stack, dict):
            raw = stack.get("frames")
            raw = raw if isinstance(raw, list) else []
            frames = [_frame(f) for f in raw if isinstance(f, dict)]
            if lib in _CRASH_FIRST_FRAMES:
                frames.reverse()
        found.append((entry, frames))
    if lib in _REVERSED_LISTS:
        found.reverse()
    return found


def _hash_exception(
    digest: Any, exception: dict[str, Any], frames: list[Frame] | None, version: str
) -> None:
    kind = exception.get("type")
    digest.update(_text("Error" if kind is None else kind).encode())
    if frames is None:
        message = exception.get("value")
        message = "" if message is None else _text(message)
        if version == "v2":
            message = _normalise_message(message)
        digest.update(message.encode())
        return
    chosen = frames if version == "v2" else _v1_frames(frames)
    for frame in chosen:
        for piece in _frame_pieces(frame, version):
            digest.update(piece.encode())


def _v1_frames(frames: list[Frame]) -> list[Frame]:
    """In-app frames (only resolved ones if any resolved); with none in-app, the first."""
    if not any(f.in_app for f in frames):
        return frames[:1]
    any_resolved = any(f.resolved for f in frames)
    return [f for f in frames if f.in_app and (f.resolved or not any_resolved)]


def _frame_pieces(frame: Frame, version: str) -> list[str]:
    pieces = []
    if frame.source is not None:
        pieces.append(_normalise_source(frame.source) if version == "v2" else frame.source)
    if frame.module is not None:
        pieces.append(frame.module.split("?", 1)[0] if version == "v2" else frame.module)
    if frame.resolved_name is not None:
        return [*pieces, frame.resolved_name]
    pieces.append(frame.raw_name)
    if version == "v1":
        pieces.extend(str(n) for n in (frame.line, frame.column) if n is not None)
    return [*pieces, frame.lang]


def _normalise_source(source: str) -> str:
    source = source.split("?", 1)[0]
    source = re.split(r"[/\\]", source)[-1]
    return _BUILD_HASH.sub(lambda m: "*" if re.search(r"\d", m[0], re.ASCII) else m[0], source)


def _normalise_message(message: str) -> str:
    message = _QUOTED.sub("'*'", message)
    message = _HEX_ID.sub("*", message)
    message = _NUMBER.sub("#", message)
    return message[:_MESSAGE_CHARS]


def _frame(raw: dict[str, Any]) -> Frame:
    """The frame cymbal makes of a raw frame, by its ``platform``."""
    platform = raw.get("platform")
    convert = _CONVERTERS.get(platform if isinstance(platform, str) else "", _generic_frame)
    return convert(raw)


def _python_frame(raw: dict[str, Any]) -> Frame:
    name = _text(raw.get("function", ""))
    return Frame(
        source=_text(raw.get("filename", "")),
        module=_optional_text(raw.get("module")),
        resolved_name=name,
        raw_name=name,
        line=_number(raw.get("lineno")),
        column=None,
        lang="python",
        in_app=raw.get("in_app") is not False and not _python_library_code(raw),
        resolved=True,
    )


def _custom_frame(raw: dict[str, Any]) -> Frame:
    name = _text(raw.get("function", ""))
    return Frame(
        source=_optional_text(raw.get("filename")),
        module=_optional_text(raw.get("module")),
        resolved_name=name,
        raw_name=name,
        line=_number(raw.get("lineno")),
        column=_number(raw.get("colno")),
        lang=_text(raw.get("lang", "")),
        in_app=raw.get("in_app") is not False,
        resolved=raw.get("resolved") is True,
    )


def _node_frame(raw: dict[str, Any]) -> Frame:
    """posthog-node's frames; with a chunk id cymbal would apply an uploaded source map."""
    name = _text(raw.get("function", ""))
    return Frame(
        source=_text(raw.get("filename", "")),
        module=_optional_text(raw.get("module")),
        resolved_name=name,
        raw_name=name,
        line=_number(raw.get("lineno")),
        column=None,
        lang="javascript",
        in_app=raw.get("in_app") is not False,
        resolved=True,
    )


def _js_frame(raw: dict[str, Any]) -> Frame:
    """A browser frame as cymbal keys it when it finds no source map for it."""
    name = _text(raw.get("function", ""))
    filename = _optional_text(raw.get("filename"))
    path = _url_path(filename)
    line, column = _number(raw.get("lineno")), _number(raw.get("colno"))
    in_app = raw.get("in_app") is not False
    if line is None or column is None:  # no position: taken as not minified
        in_app = in_app and filename != "<anonymous>"
        return Frame(path, None, name, name, None, None, "javascript", in_app, True)
    chunk_id = raw.get("chunk_id", raw.get("chunkId"))
    if path is None and chunk_id is None:
        minified = False  # nothing to look a source map up by
    elif chunk_id is not None:
        minified = True  # cymbal looks the chunk's uploaded map up; the inbox has none
    else:
        minified = column > _MINIFIED_COLUMN  # cymbal's guess when a script has no map
    resolved_name = None if minified else name
    return Frame(path, None, resolved_name, name, line, column, "javascript", in_app, not minified)


def _generic_frame(raw: dict[str, Any]) -> Frame:
    """Any other platform: keyed by file, module and function as sent (see the docs)."""
    name = _text(raw.get("function", ""))
    platform = raw.get("platform")
    return Frame(
        source=_optional_text(raw.get("filename")),
        module=_optional_text(raw.get("module")),
        resolved_name=name,
        raw_name=name,
        line=_number(raw.get("lineno")),
        column=_number(raw.get("colno")),
        lang=platform if isinstance(platform, str) else "",
        in_app=raw.get("in_app") is not False,
        resolved=True,
    )


_CONVERTERS: dict[str, Callable[[dict[str, Any]], Frame]] = {
    "python": _python_frame,
    "custom": _custom_frame,
    "node:javascript": _node_frame,
    **{platform: _js_frame for platform in _JS_PLATFORMS},
}


def _url_path(filename: str | None) -> str | None:
    """The path of an http(s) script URL without a trailing ``:line:column``, else None."""
    if filename is None or not filename.startswith(("http://", "https://")):
        return None
    url = filename
    for _ in range(2):
        colon, slash = url.rfind(":"), url.rfind("/")
        if colon > slash >= 0:
            url = url[:colon]
    rest = url.split("://", 1)[1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path.split("?", 1)[0].split("#", 1)[0]


def _python_library_code(raw: dict[str, Any]) -> bool:
    """Whether cymbal demotes this Python frame from in-app: stdlib or installed code."""
    module = _optional_text(raw.get("module"))
    stdlib_module = module is not None and module.split(".", 1)[0] in _stdlib_modules()
    filename = _text(raw.get("filename", ""))
    abs_path = _optional_text(raw.get("abs_path"))
    pseudo = _pseudo_filename(filename) or (
        abs_path is not None and _pseudo_filename(re.split(r"[/\\]", abs_path)[-1])
    )
    if stdlib_module and pseudo:
        return True
    if abs_path is not None:
        return bool(_LIBRARY_PATH.search(abs_path) or _STDLIB_PATH.search(abs_path))
    return bool(_LIBRARY_PATH.search(filename)) or stdlib_module


def _pseudo_filename(name: str) -> bool:
    """``<frozen importlib._bootstrap>``, ``<string>``: code with no file of its own."""
    return name.startswith("<") and name.endswith(">")


_STDLIB: set[str] = set()


def _stdlib_modules() -> set[str]:
    """The public top-level standard-library module names of this interpreter."""
    if not _STDLIB:
        names: set[str] = set(getattr(sys, "stdlib_module_names", ()))  # Python 3.10+
        if not names:  # Python 3.9: the modules in the standard library's directory
            import pkgutil
            import sysconfig

            stdlib = sysconfig.get_paths()["stdlib"]
            names = {m.name for m in pkgutil.iter_modules([stdlib])}
            names.update(sys.builtin_module_names)
        _STDLIB.update(n for n in names if not n.startswith("_"))
    return _STDLIB


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
