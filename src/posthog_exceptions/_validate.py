"""Checks for each kind of option value; every failure names the option and shows the value.

``TypeError`` for a value of the wrong type, ``ValueError`` for the right type with a
bad value. Every check of an option takes ``(name, value)`` and returns the value to keep;
:data:`posthog_exceptions._config.Options` names the check of each option. The key and
the host have checks of their own, which say where the value came from (an argument or
an environment variable).
"""

from __future__ import annotations

import math
import os
from _collections_abc import Mapping  # collections.abc, without importing collections
from types import MappingProxyType

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Any, Callable, Optional, Union

    DistinctIdOption = Union[str, Callable[[], Optional[str]]]
    BeforeSend = Callable[[dict[str, Any]], Optional[dict[str, Any]]]
    Check = Callable[[str, Any], Any]

US_HOST = "https://us.i.posthog.com"
EU_HOST = "https://eu.i.posthog.com"
HOST_ALIASES = {
    "us": US_HOST,
    "eu": EU_HOST,
    # The app hosts serve the UI; events belong on the ingestion hosts.
    "https://app.posthog.com": US_HOST,
    "https://us.posthog.com": US_HOST,
    "https://eu.posthog.com": EU_HOST,
}
MAX_API_KEY_LENGTH = 64
FRAME_FORMATS = ("python", "custom")


def show(value: object) -> str:
    """The bad value as shown in an error message: its repr (bounded) and type."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def expect(name: str, value: object, ok: bool, wanted: str) -> None:
    if not ok:
        raise TypeError(f"option {name!r} must be {wanted}, got {show(value)}")


def check_bool(name: str, value: object) -> bool:
    expect(name, value, isinstance(value, bool), "True or False")
    return bool(value)


def check_int(name: str, value: object, minimum: int) -> int:
    expect(name, value, isinstance(value, int) and not isinstance(value, bool), "an int")
    assert isinstance(value, int)
    if value < minimum:
        raise ValueError(f"option {name!r} must be at least {minimum}, got {value!r}")
    return value


def at_least(minimum: int) -> Check:
    """The check of an int option with this lower bound."""

    def check(name: str, value: object) -> int:
        return check_int(name, value, minimum)

    return check


def seconds(*, allow_zero: bool = False, unit: str = "seconds") -> Check:
    """The check of a finite, non-negative number (of seconds, or of ``unit``)."""

    def check(name: str, value: object) -> float:
        return check_seconds(name, value, allow_zero=allow_zero, unit=unit)

    return check


def check_seconds(name: str, value: object, *, allow_zero: bool, unit: str = "seconds") -> float:
    expect(
        name,
        value,
        isinstance(value, (int, float)) and not isinstance(value, bool),
        f"a number of {unit}",
    )
    assert isinstance(value, (int, float))
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"option {name!r} must be a finite number of {unit}, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        raise ValueError(f"option {name!r} must be {bound} {unit}, got {value!r}")
    return number


def check_optional_str(name: str, value: object) -> str | None:
    expect(name, value, value is None or isinstance(value, str), "a string or None")
    assert value is None or isinstance(value, str)
    return value


def check_optional_callable(name: str, value: object) -> Any:
    expect(name, value, value is None or callable(value), "a callable or None")
    return value


def check_distinct_id(name: str, value: object) -> DistinctIdOption | None:
    ok = value is None or isinstance(value, str) or callable(value)
    expect(name, value, ok, "a string, a callable returning one, or None")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"option {name!r} must not be blank, got {value!r}")
    return value  # type: ignore[return-value]


def check_properties(name: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    expect(name, value, isinstance(value, Mapping), "a mapping of str to values")
    assert isinstance(value, Mapping)
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"option {name!r} must have str keys, got key {show(key)}")
    return MappingProxyType(dict(value))


def check_exception_types(name: str, value: object) -> tuple[type[BaseException], ...]:
    items = (value,) if isinstance(value, type) else value
    ok = isinstance(items, (tuple, list, set, frozenset)) and all(
        isinstance(item, type) and issubclass(item, BaseException) for item in items
    )
    expect(name, value, ok, "an exception type or a tuple of them")
    assert isinstance(items, (tuple, list, set, frozenset))
    return tuple(items)


def check_names(name: str, value: object) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    ok = isinstance(items, (tuple, list, set, frozenset)) and all(isinstance(i, str) for i in items)
    expect(name, value, ok, "a string or a list of strings")
    assert isinstance(items, (tuple, list, set, frozenset))
    for item in items:
        if not item.strip():
            raise ValueError(f"option {name!r} must not contain blank names, got {value!r}")
    return tuple(items)


def check_patterns(name: str, value: object) -> tuple[re.Pattern[str], ...]:
    """Regular expressions (strs or compiled ``re.Pattern[str]``), compiled once here
    (``re`` is imported only when the option is given)."""
    if value == ():
        return ()
    import re

    items = (value,) if isinstance(value, (str, re.Pattern)) else value
    ok = isinstance(items, (tuple, list)) and all(isinstance(i, (str, re.Pattern)) for i in items)
    expect(name, value, ok, "a regular expression or a list of them")
    assert isinstance(items, (tuple, list))
    compiled = []
    for item in items:
        try:
            pattern = re.compile(item)
        except re.error as exc:
            raise ValueError(
                f"option {name!r}: {item!r} is not a regular expression: {exc}"
            ) from None
        if not isinstance(pattern.pattern, str):
            raise TypeError(f"option {name!r} must hold str patterns, got {show(item)}")
        if pattern.search(""):
            raise ValueError(f"option {name!r}: {item!r} matches the empty string")
        compiled.append(pattern)
    return tuple(compiled)


def check_path(name: str, value: object) -> str | None:
    ok = value is None or isinstance(value, (str, os.PathLike))
    expect(name, value, ok, "a path or None")
    if value is None:
        return None
    path = os.fspath(value)  # type: ignore[call-overload]
    if not isinstance(path, str) or not path:
        raise ValueError(f"option {name!r} must be a non-empty path, got {value!r}")
    return os.path.abspath(path)


def one_of(*choices: str) -> Check:
    """The check of a string option with these values."""

    def check(name: str, value: object) -> str:
        expect(name, value, isinstance(value, str), "a string")
        if value not in choices:
            shown = " or ".join(repr(choice) for choice in choices)
            raise ValueError(f"option {name!r} must be {shown}, got {value!r}")
        return str(value)

    return check


def check_frame_format(name: str, value: object) -> str:
    expect(name, value, isinstance(value, str), "a string")
    if value not in FRAME_FORMATS:
        raise ValueError(f"option {name!r} must be 'python' or 'custom', got {value!r}")
    return str(value)


def check_transport(name: str, value: object) -> Any:
    ok = value is None or callable(getattr(value, "send", None))
    expect(name, value, ok, "an object with a send(body, headers) method, or None")
    return value


def check_api_key(value: object, source: str = "option 'api_key'") -> str:
    """Validate a project API key as PostHog's capture service does; return it trimmed.

    The message names where the key came from; a personal key is shown only by
    its prefix and length, since it is a secret.
    """
    if not isinstance(value, str):
        raise TypeError(f"{source} must be a string, got {show(value)}")
    key = value.strip()
    if not key:
        raise ValueError(f"{source} is empty, got {value!r}; pass the project API key (phc_...)")
    if key.startswith("phx_"):
        raise ValueError(
            f"{source} is a personal API key ('phx_...', {len(key)} characters); "
            "events need the project API key ('phc_...') from the project settings"
        )
    if "\x00" in key:
        raise ValueError(f"{source} contains a NUL character, got {key!r}")
    if not key.isascii():
        raise ValueError(f"{source} must be ASCII, got {key!r}")
    if len(key) > MAX_API_KEY_LENGTH:
        raise ValueError(
            f"{source} must be at most {MAX_API_KEY_LENGTH} characters, "
            f"got {key[:12]!r}... ({len(key)} characters)"
        )
    return key


def check_host(value: object, source: str = "option 'host'") -> str:
    """Resolve ``"us"``/``"eu"`` and the app hosts; require an http(s) URL; drop a trailing /."""
    if not isinstance(value, str):
        raise TypeError(f"{source} must be a string, got {show(value)}")
    host = value.strip()
    alias = HOST_ALIASES.get(host.lower().rstrip("/"))
    if alias is not None:
        return alias
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(host)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"{source} must be an http(s) URL such as 'https://eu.i.posthog.com', "
            f"or 'us' or 'eu', got {value!r}"
        )
    return host.rstrip("/")
