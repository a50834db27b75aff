"""Options: one frozen, typed object built and validated once, at ``init()``/``Client()``.

Every option is an explicit keyword argument. A malformed value raises
``TypeError`` (wrong type or unknown name) or ``ValueError`` (right type, bad
value) with a message that names the option and shows the bad value, so a
mistake surfaces at start-up instead of silently losing events later.

The project API key comes from the ``api_key`` argument, else the environment
(``POSTHOG_API_KEY``, then ``POSTHOG_PROJECT_API_KEY``). The host comes from the
``host`` argument, else ``POSTHOG_HOST``, else the US cloud; ``"us"`` and
``"eu"`` are shortcuts for the two PostHog clouds. With no key anywhere the
client is disabled: it logs one warning and sends nothing, and the host program
keeps running.
"""

from __future__ import annotations

import os
from types import MappingProxyType

from ._validate import (
    US_HOST,
    check_api_key,
    check_bool,
    check_distinct_id,
    check_exception_types,
    check_frame_format,
    check_host,
    check_int,
    check_names,
    check_optional_callable,
    check_optional_str,
    check_path,
    check_properties,
    check_seconds,
    check_transport,
    show,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Callable, Optional, Union

    from ._types import Transport

    DistinctIdOption = Union[str, Callable[[], Optional[str]]]
    BeforeSend = Callable[[dict[str, Any]], Optional[dict[str, Any]]]

API_KEY_ENV_VARS = ("POSTHOG_API_KEY", "POSTHOG_PROJECT_API_KEY")
HOST_ENV_VAR = "POSTHOG_HOST"
_MINIMUM = {"max_retries": 0, "context_lines": 0, "max_frames": 10}


_NO_PROPERTIES: Mapping[str, Any] = MappingProxyType({})


_FIELDS = (
    "api_key",
    "host",
    "distinct_id",
    "properties",
    "release",
    "environment",
    "batch_size",
    "max_queue_size",
    "max_queue_bytes",
    "timeout",
    "max_retries",
    "gzip",
    "shutdown_timeout",
    "sync_mode",
    "disabled",
    "debug",
    "before_send",
    "transport",
    "ignore",
    "capture_interactive",
    "capture_locals",
    "scrub_names",
    "in_app_include",
    "in_app_exclude",
    "project_root",
    "frame_format",
    "max_frames",
    "context_lines",
    "spool_dir",
    "spool_max_bytes",
    "rate_limit",
    "rate_limit_burst",
    "rate_limit_per_second",
)
_DEFAULTS: dict[str, Any] = {
    "distinct_id": None,
    "properties": _NO_PROPERTIES,
    "release": None,
    "environment": None,
    "batch_size": 1000,
    "max_queue_size": 100_000,
    "max_queue_bytes": 32 * 1024 * 1024,
    "timeout": 10.0,
    "max_retries": 10,
    "gzip": True,
    "shutdown_timeout": 5.0,
    "sync_mode": False,
    "disabled": False,
    "debug": False,
    "before_send": None,
    "transport": None,
    "ignore": (),
    "capture_interactive": False,
    "capture_locals": False,
    "scrub_names": (),
    "in_app_include": (),
    "in_app_exclude": (),
    "project_root": None,
    "frame_format": "python",
    "max_frames": 250,
    "context_lines": 5,
    "spool_dir": None,
    "spool_max_bytes": 64 * 1024 * 1024,
    "rate_limit": True,
    "rate_limit_burst": 50,
    "rate_limit_per_second": 1.0,
}


class Options:
    """The validated configuration of a :class:`~posthog_exceptions.Client`.

    Built by :func:`build_options`; immutable. (A plain class with slots: a dataclass or
    a typed named tuple would cost ``dataclasses`` or ``typing`` at import time.)
    """

    api_key: str
    """The project API key (``phc_…``); empty when the client is disabled for lack of one."""
    host: str
    """The capture host, without a trailing slash."""
    distinct_id: DistinctIdOption | None
    """The default person: a string, or a callable returning one (or ``None``)."""
    properties: Mapping[str, Any]
    """Super properties added to every event (read-only copy)."""
    release: str | None
    """Sent as the ``release`` property of every event."""
    environment: str | None
    """Sent as the ``environment`` property of every event."""
    batch_size: int
    """At most this many events per request."""
    max_queue_size: int
    """At most this many events wait in memory; beyond it new events are dropped and counted."""
    max_queue_bytes: int
    """At most this much memory (``sys.getsizeof``) is held by events waiting or being sent;
    a frame's JSON that several of them share (the same bug, raised again) counts once."""
    timeout: float
    """Seconds to connect, and seconds the server may stay silent while answering; reading
    the (short) response body stops after ``timeout`` seconds in all."""
    max_retries: int
    """Resends of a batch after transient failures before it is given up (about 65 s of waits)."""
    gzip: bool
    """Compress request bodies (``Content-Encoding: gzip``)."""
    shutdown_timeout: float
    """Seconds the exit-time flush and :meth:`Client.shutdown` may take."""
    sync_mode: bool
    """Send each event in the calling thread before returning (serverless)."""
    disabled: bool
    """Send nothing at all."""
    debug: bool
    """Log the library's activity to stderr."""
    before_send: BeforeSend | None
    """Called with each event; return it (edited or not) to send it, or ``None`` to drop it."""
    transport: Transport | None
    """Replace the HTTP transport (see :mod:`posthog_exceptions.testing`)."""
    ignore: tuple[type[BaseException], ...]
    """Exception types never sent. ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit`` and
    ``asyncio.CancelledError`` are always ignored by the hooks and the decorator."""
    capture_interactive: bool
    """Install ``sys.excepthook`` in interactive sessions too (off: a REPL typo is no bug)."""
    capture_locals: bool
    """Send the local variables of in-app frames (bounded, with secrets masked)."""
    scrub_names: tuple[str, ...]
    """More variable-name substrings whose values are masked, besides the built-in list."""
    in_app_include: tuple[str, ...]
    """Module prefixes whose frames are in-app even if installed as packages."""
    in_app_exclude: tuple[str, ...]
    """Module prefixes whose frames are never in-app."""
    project_root: str | None
    """When set, only files under this directory are in-app."""
    frame_format: str
    """``"python"`` frames, or ``"custom"`` for the generic variant of PostHog's tutorial."""
    max_frames: int
    """Deeper stacks are trimmed from the middle (keeping the entry and the crash site)."""
    context_lines: int
    """Source lines sent either side of each frame's line (0: none)."""
    spool_dir: str | None
    """A directory where undeliverable events wait for the next process (off when None)."""
    spool_max_bytes: int
    """The spool's size bound; the oldest spooled events are dropped beyond it."""
    rate_limit: bool
    """Limit the ``$exception`` events sent per fingerprint (a token bucket per group)."""
    rate_limit_burst: int
    """Events of one group sent in a burst before the limit applies."""
    rate_limit_per_second: float
    """Events of one group sent per second, on average, once the burst is spent."""

    __slots__ = _FIELDS
    _fields = _FIELDS

    def __init__(self, **values: Any) -> None:
        for required in ("api_key", "host"):
            if required not in values:
                raise TypeError(f"Options() needs {required!r}")
        for name in _FIELDS:
            object.__setattr__(self, name, values.pop(name) if name in values else _DEFAULTS[name])
        if values:
            raise TypeError(f"Options() got unknown fields {sorted(values)}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Options are immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Options are immutable: cannot delete {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Options) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(tuple(v if not isinstance(v, Mapping) else id(v) for v in self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Options({shown})"

    def _replace(self, **changes: Any) -> Options:
        return Options(**{**{name: getattr(self, name) for name in _FIELDS}, **changes})

    @property
    def has_key(self) -> bool:
        return bool(self.api_key)


OPTION_NAMES = tuple(name for name in _FIELDS if name not in ("api_key", "host"))


def _from_environment(environ: Mapping[str, str]) -> tuple[str | None, str]:
    for var in API_KEY_ENV_VARS:
        if environ.get(var, "").strip():
            return environ[var], f"environment variable {var} (api_key)"
    return None, "option 'api_key'"


def build_options(
    api_key: object = None,
    host: object = None,
    options: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Options:
    """Validate everything given to ``Client()``/``init()`` and freeze it into :class:`Options`."""
    given = dict(options or {})
    env = os.environ if environ is None else environ
    for name, value in given.items():
        if name not in OPTION_NAMES:
            import difflib

            close = difflib.get_close_matches(name, (*OPTION_NAMES, "api_key", "host"), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"unknown option {name!r}={show(value)}{hint}")

    if api_key is None:
        api_key, key_source = _from_environment(env)
    else:
        key_source = "option 'api_key'"
    key = "" if api_key is None else check_api_key(api_key, key_source)

    if host is None and env.get(HOST_ENV_VAR, "").strip():
        resolved_host = check_host(env[HOST_ENV_VAR], f"environment variable {HOST_ENV_VAR}")
    else:
        resolved_host = US_HOST if host is None else check_host(host)

    checked: dict[str, Any] = {}
    defaults = Options(api_key="", host="")
    for name in OPTION_NAMES:
        if name not in given:
            continue
        value = given[name]
        default = getattr(defaults, name)
        if name == "distinct_id":
            checked[name] = check_distinct_id(value)
        elif name == "properties":
            checked[name] = check_properties(value)
        elif name == "transport":
            checked[name] = check_transport(value)
        elif name == "before_send":
            checked[name] = check_optional_callable(name, value)
        elif name in ("release", "environment"):
            checked[name] = check_optional_str(name, value)
        elif name == "ignore":
            checked[name] = check_exception_types(value)
        elif name in ("scrub_names", "in_app_include", "in_app_exclude"):
            checked[name] = check_names(name, value)
        elif name in ("project_root", "spool_dir"):
            checked[name] = check_path(name, value)
        elif name == "frame_format":
            checked[name] = check_frame_format(value)
        elif isinstance(default, bool):
            checked[name] = check_bool(name, value)
        elif isinstance(default, int):
            checked[name] = check_int(name, value, minimum=_MINIMUM.get(name, 1))
        elif isinstance(default, float):
            if name == "rate_limit_per_second":
                checked[name] = check_seconds(
                    name, value, allow_zero=True, unit="events per second"
                )
            else:
                checked[name] = check_seconds(name, value, allow_zero=name == "shutdown_timeout")
        else:  # pragma: no cover - every option has a branch above
            raise AssertionError(name)
    return Options(api_key=key, host=resolved_host, **checked)
