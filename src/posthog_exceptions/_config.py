"""Options: one frozen, typed object built and validated once, at ``init()``/``Client()``.

**One table.** Each option is declared once, as a line of the :class:`Options` class
body: ``name: type = option(default, check, doc)``. From those lines come the fields of
``Options`` and their types (for type checkers), the defaults, the validation
(:func:`build_options` runs each option's check), the list of option names, and the
README's option table (a test compares the two). The parts that read a few options —
the frame reader, the rate limit — are handed the whole :class:`Options`, so no second
list of fields can drift from this one.

Every option is an explicit keyword argument. A malformed value raises ``TypeError``
(wrong type or unknown name) or ``ValueError`` (right type, bad value) with a message
that names the option and shows the bad value, so a mistake surfaces at start-up
instead of silently losing events later.

The project API key comes from the ``api_key`` argument, else the environment
(``POSTHOG_API_KEY``, then ``POSTHOG_PROJECT_API_KEY``). The host comes from the
``host`` argument, else ``POSTHOG_HOST``, else the US cloud; ``"us"`` and ``"eu"`` are
shortcuts for the two PostHog clouds. With no key anywhere the client is disabled: it
logs one warning and sends nothing, and the host program keeps running.
"""

from __future__ import annotations

import os
from types import MappingProxyType

from ._validate import (
    US_HOST,
    at_least,
    check_api_key,
    check_bool,
    check_distinct_id,
    check_exception_types,
    check_frame_format,
    check_host,
    check_names,
    check_optional_callable,
    check_optional_str,
    check_path,
    check_patterns,
    check_properties,
    check_transport,
    one_of,
    seconds,
    show,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Mapping
    from typing import Any

    from ._types import Transport
    from ._validate import BeforeSend, Check, DistinctIdOption

API_KEY_ENV_VARS = ("POSTHOG_API_KEY", "POSTHOG_PROJECT_API_KEY")
HOST_ENV_VAR = "POSTHOG_HOST"
RELEASE_ID_ENV_VAR = "POSTHOG_RELEASE_ID"


class Option:
    """One line of the option table: name, default, check, documentation."""

    __slots__ = ("check", "default", "doc", "env_vars", "name")

    def __init__(
        self, default: Any, check: Check | None, doc: str, env_vars: tuple[str, ...]
    ) -> None:
        self.name = ""
        self.default = default
        self.check = check
        """``check(name, value)`` returns the value to keep or raises (None: a special case)."""
        self.doc = doc
        self.env_vars = env_vars
        """Environment variables read when the option is not given."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def shown_default(self) -> tuple[str, ...]:
        """The default as the README's table shows it (each item in backquotes)."""
        if self.env_vars:
            return (*self.env_vars, *((self.default,) if self.default else ()))
        if isinstance(self.default, MappingProxyType):
            return ("{}",)
        if isinstance(self.default, str):
            return (f'"{self.default}"',)
        return (repr(self.default),)

    def __repr__(self) -> str:
        return f"<option {self.name}={self.default!r}>"


def option(default: Any, check: Check | None, doc: str, *, env_vars: tuple[str, ...] = ()) -> Any:
    """Declare an option in the :class:`Options` body (typed ``Any``, so that the line's
    annotation is the option's type)."""
    return Option(default, check, doc, env_vars)


class Options:
    """The validated configuration of a :class:`~posthog_exceptions.Client` (immutable).

    Built by :func:`build_options`. (A plain class: a dataclass or a typed named tuple
    would cost ``dataclasses`` or ``typing`` at import time.) The class attributes are
    the option table (:class:`Option`); an instance holds the values.
    """

    api_key: str = option(
        "",
        None,
        "The project API key (``phc_…``); empty when the client is disabled for lack of one.",
        env_vars=API_KEY_ENV_VARS,
    )
    host: str = option(
        US_HOST,
        None,
        "The capture host, without a trailing slash (``us``/``eu`` shortcuts resolved).",
        env_vars=(HOST_ENV_VAR,),
    )
    distinct_id: DistinctIdOption | None = option(
        None, check_distinct_id, "The default person: a string, or a callable returning one."
    )
    properties: Mapping[str, Any] = option(
        MappingProxyType({}), check_properties, "Super properties added to every event."
    )
    release: str | None = option(
        None, check_optional_str, "Sent as the ``release`` property of every event."
    )
    release_id: str | None = option(
        None,
        check_optional_str,
        "PostHog's release id, sent as ``$release_id`` (what ``posthog-cli`` prints for a "
        "release); by default ``POSTHOG_RELEASE_ID``. Blank means none.",
        env_vars=(RELEASE_ID_ENV_VAR,),
    )
    environment: str | None = option(
        None, check_optional_str, "Sent as the ``environment`` property of every event."
    )
    disable_geoip: bool = option(
        True,
        check_bool,
        "Send ``$geoip_disable: true``, so that PostHog does not place people where the server is.",
    )
    batch_size: int = option(1000, at_least(1), "At most this many events per request.")
    max_queue_size: int = option(
        100_000, at_least(1), "Events waiting in memory; beyond it new ones are dropped."
    )
    max_queue_bytes: int = option(
        32 * 1024 * 1024,
        at_least(1),
        "Memory (``sys.getsizeof``) held by events waiting or being sent; a frame's JSON "
        "shared by several of them counts once.",
    )
    timeout: float = option(
        10.0,
        seconds(),
        "Seconds to connect, and seconds the server may stay silent while answering.",
    )
    max_retries: int = option(
        10, at_least(0), "Resends of a failing batch before it is given up (about 65 s)."
    )
    gzip: bool = option(True, check_bool, "Compress request bodies (``Content-Encoding: gzip``).")
    shutdown_timeout: float = option(
        5.0,
        seconds(allow_zero=True),
        "Seconds the exit-time flush, ``shutdown()`` and the fatal-error flush may take.",
    )
    sync_mode: bool = option(
        False, check_bool, "Send each event in the calling thread before returning."
    )
    stall_timeout: float = option(
        10.0,
        seconds(),
        "Seconds events may wait with no sign of the delivery thread (gone, starved, never "
        "scheduled) before the next capture sends them from the calling thread.",
    )
    disabled: bool = option(False, check_bool, "Send nothing at all.")
    debug: bool = option(False, check_bool, "Log the library's activity to stderr.")
    before_send: BeforeSend | None = option(
        None,
        check_optional_callable,
        "Called with each event: return it (edited or not) to send it, ``None`` to drop it.",
    )
    transport: Transport | None = option(
        None, check_transport, "Replace the HTTP transport (see ``posthog_exceptions.testing``)."
    )
    ignore: tuple[type[BaseException], ...] = option(
        (), check_exception_types, "Exception types never sent."
    )
    capture_interactive: bool = option(
        False, check_bool, "Install ``sys.excepthook`` in interactive sessions too."
    )
    capture_locals: bool = option(
        False, check_bool, "Send the local variables of in-app frames (bounded, masked)."
    )
    scrub_names: tuple[str, ...] = option(
        (),
        check_names,
        "More name substrings whose values are masked (see :mod:`._capture.scrub`).",
    )
    scrub_patterns: tuple[re.Pattern[str], ...] = option(
        (), check_patterns, "More regular expressions masked in every text the events carry."
    )
    scrub_messages: bool = option(
        True, check_bool, "Mask secrets in exception messages and log messages too."
    )
    in_app_include: tuple[str, ...] = option(
        (), check_names, "Module prefixes whose frames are in-app even if installed."
    )
    in_app_exclude: tuple[str, ...] = option(
        (), check_names, "Module prefixes whose frames are never in-app."
    )
    project_root: str | None = option(
        None, check_path, "When set, only files under this directory are in-app."
    )
    frame_format: str = option(
        "python", check_frame_format, "``python`` frames, or ``custom`` (the generic variant)."
    )
    max_frames: int = option(
        250, at_least(10), "Deeper stacks are trimmed from the middle (entry and crash kept)."
    )
    context_lines: int = option(
        5, at_least(0), "Source lines sent either side of each frame's line (0: none)."
    )
    spool_dir: str | None = option(
        None, check_path, "A directory where undeliverable events wait for the next process."
    )
    spool_max_bytes: int = option(
        64 * 1024 * 1024, at_least(1), "The spool's bound; the oldest events go beyond it."
    )
    grouping: str = option(
        "client",
        one_of("client", "posthog"),
        "``client``: send this library's ``$exception_fingerprint``; ``posthog``: let "
        "PostHog group (and apply the project's grouping rules).",
    )
    capture_tracing_headers: bool = option(
        True,
        check_bool,
        "Web integrations read posthog-js's ``X-POSTHOG-SESSION-ID``, ``-WINDOW-ID`` and "
        "``-DISTINCT-ID`` request headers.",
    )
    rate_limit: bool = option(
        True, check_bool, "Limit the ``$exception`` events sent per fingerprint."
    )
    rate_limit_burst: int = option(
        50, at_least(1), "Events of one group sent in a burst before the limit applies."
    )
    rate_limit_per_second: float = option(
        1.0,
        seconds(allow_zero=True, unit="events per second"),
        "Events of one group sent per second, on average, once the burst is spent.",
    )

    TABLE: tuple[Option, ...]  # set below, from the lines above

    def __init__(self, **values: Any) -> None:
        for required in ("api_key", "host"):
            if required not in values:
                raise TypeError(f"Options() needs {required!r}")
        write = object.__setattr__
        for item in self.TABLE:
            write(self, item.name, values.pop(item.name) if item.name in values else item.default)
        if values:
            raise TypeError(f"Options() got unknown fields {sorted(values)}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Options are immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Options are immutable: cannot delete {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, item.name) for item in self.TABLE)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Options) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(
            tuple(v if not isinstance(v, MappingProxyType) else id(v) for v in self._values())
        )

    def __repr__(self) -> str:
        shown = ", ".join(f"{item.name}={getattr(self, item.name)!r}" for item in self.TABLE)
        return f"Options({shown})"

    def _replace(self, **changes: Any) -> Options:
        return Options(
            **{**{item.name: getattr(self, item.name) for item in self.TABLE}, **changes}
        )

    @property
    def has_key(self) -> bool:
        return bool(self.api_key)


Options.TABLE = tuple(value for value in vars(Options).values() if isinstance(value, Option))
OPTION_NAMES = tuple(item.name for item in Options.TABLE if item.name not in ("api_key", "host"))
"""The options given by keyword (all but ``api_key`` and ``host``, which may come first)."""


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
    for item in Options.TABLE:
        if item.name in given and item.check is not None:
            checked[item.name] = item.check(item.name, given[item.name])
    release_id = checked.get("release_id") if "release_id" in given else env.get(RELEASE_ID_ENV_VAR)
    checked["release_id"] = (release_id.strip() or None) if release_id else None  # blank: none
    return Options(api_key=key, host=resolved_host, **checked)
