"""The parts every event shares: id, timestamp, and the distinct_id rules.

Event ids are UUIDv7 (RFC 9562): random like v4, but their first 48 bits are
the Unix time in milliseconds, so ids sort by creation time in the inbox and in
ClickHouse. Timestamps are ISO-8601 in UTC with microseconds
(``2026-11-27T10:00:00.000000+00:00``).
"""

from __future__ import annotations

import os
import sys
import time

from ._log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime as _dt
    import random
    from typing import Any


_random: random.Random | None = None
_tails: list[str] = []
"""Random ends of event ids, made :data:`_TAILS` at a time (see :func:`new_uuid`)."""
_TAILS = 256


def _generator() -> random.Random:
    """The private generator of the random bits of event ids, seeded from ``os.urandom``
    (and reseeded in a forked child, which also drops the parent's unused :data:`_tails`).
    ``os.urandom`` on every event would release the GIL, and a capturing thread would then
    wait for the delivery thread to hand it back."""
    global _random
    if _random is None:
        import random

        generator = random.Random()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=forked)
        _random = generator
    return _random


def forked() -> None:
    """In a forked child: new random bits, none of the parent's (it may use them too).
    Also called by the worker when it notices a fork that skipped Python's fork handlers
    (uWSGI's C fork): there the child's first event, whose id is made before the worker
    looks, may end like the parent's next one (the same id only within one millisecond)."""
    if _random is not None:
        _random.seed()
    _tails.clear()


def refill_tails() -> None:
    """Make :data:`_TAILS` more random ends of event ids: ``7xxx-yxxx-xxxxxxxxxxxx``, the
    version nibble 7, the RFC 9562 variant (y is 8, 9, a or b) and 74 random bits. Two
    calls of the generator for all of them, so that an id costs its capture a list pop;
    the delivery thread tops the list up as it builds events (:func:`top_up_tails`)."""
    generator = _random or _generator()
    text = f"{generator.getrandbits(72 * _TAILS):0{18 * _TAILS}x}"
    variants = generator.getrandbits(2 * _TAILS)
    made = []
    for at in range(0, 18 * _TAILS, 18):
        part = text[at : at + 18]
        made.append(f"7{part[:3]}-{'89ab'[variants & 3]}{part[3:6]}-{part[6:]}")
        variants >>= 2
    _tails.extend(made)


_HEX_BYTE = tuple(f"{byte:02x}" for byte in range(256))
_head: tuple[int, str] = (-1, "")
"""The id's first group (the time's upper 32 bits: it changes every 65 seconds), as text."""


def new_uuid(now_ns: int | None = None) -> str:
    """A fresh UUIDv7 as a string, for now or for ``now_ns`` (``time.time_ns()``): the
    Unix time in milliseconds (48 bits), then a random end from :data:`_tails`. No number
    is formatted on the way (the first group is remembered, the second read from a table):
    a capture that comes after a quiet spell would pay for that code to be fetched."""
    global _head
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    try:
        tail = _tails.pop()  # (atomic: any thread may take one, or refill)
    except IndexError:
        refill_tails()
        tail = _tails.pop()
    upper = (ms >> 16) & 0xFFFF_FFFF
    head = _head
    if head[0] != upper:
        head = _head = (upper, f"{upper:08x}-")
    return f"{head[1]}{_HEX_BYTE[(ms >> 8) & 0xFF]}{_HEX_BYTE[ms & 0xFF]}-{tail}"


def top_up_tails() -> None:
    """Refill the random ends of event ids once fewer than half are left (called by the
    delivery thread between batches, so that captures rarely make them)."""
    if len(_tails) < _TAILS // 2:
        refill_tails()


def iso_now() -> str:
    import datetime as _dt  # deferred (after the first event, a dictionary lookup)

    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def iso_at(now_ns: int) -> str:
    """``now_ns`` (``time.time_ns()``) in the form of :func:`iso_now`."""
    import datetime as _dt

    seconds, ns = divmod(now_ns, 1_000_000_000)
    moment = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
    return moment.replace(microsecond=ns // 1000).isoformat(timespec="microseconds")


def normalize_timestamp(value: Any) -> str:
    """ISO-8601 UTC for a ``datetime`` (naive means UTC), a ``date``, an ISO string or
    Unix seconds; ``None`` means now. Anything unreadable is logged and replaced by now."""
    if value is None:
        return iso_now()
    import datetime as _dt

    utc = _dt.timezone.utc
    try:
        moment = _to_datetime(value)
    except (TypeError, ValueError, OverflowError, OSError):
        logger.warning("timestamp %.100r is not a datetime or ISO-8601 string; using now", value)
        return iso_now()
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=utc)
    return moment.astimezone(utc).isoformat(timespec="microseconds")


def _to_datetime(value: Any) -> _dt.datetime:
    import datetime as _dt

    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        return _parse_iso(text)
    raise TypeError(type(value).__name__)


def _parse_iso(text: str) -> _dt.datetime:
    import datetime as _dt

    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    # Python < 3.11 accepts only 0, 3 or 6 fraction digits: pad or cut to 6.
    head, sep, tail = text.partition(".")
    if not sep:
        raise ValueError(text)
    digits = len(tail) - len(tail.lstrip("0123456789"))
    fraction, zone = tail[:digits], tail[digits:]
    return _dt.datetime.fromisoformat(f"{head}.{fraction[:6].ljust(6, '0')}{zone}")


def normalize_uuid(value: Any) -> str:
    """The given uuid as a canonical string, or a new one (logged) when it is not a UUID."""
    if value is None:
        return new_uuid()
    import uuid as _uuid

    try:
        return str(value if isinstance(value, _uuid.UUID) else _uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        logger.warning("uuid %.100r is not a UUID; the event gets a new one", value)
        return new_uuid()


MAX_DISTINCT_ID_CHARS = 200
"""PostHog truncates longer distinct ids; this library cuts them itself, with a warning."""


def normalize_distinct_id(value: Any) -> str | None:
    """A non-blank string distinct_id of at most 200 characters, or ``None`` (see
    :func:`_distinct_id_text`). A longer one is cut, as PostHog would, with a warning."""
    text = _distinct_id_text(value)
    if text is not None and len(text) > MAX_DISTINCT_ID_CHARS:
        logger.warning(
            "distinct_id is %d characters long; PostHog keeps the first %d, and so does this "
            "library",
            len(text),
            MAX_DISTINCT_ID_CHARS,
        )
        text = text[:MAX_DISTINCT_ID_CHARS]
    return text


def _distinct_id_text(value: Any) -> str | None:
    """A non-blank string distinct_id, or ``None``. Numbers and UUIDs are turned into strings.

    Subclasses of str and int give their data, read with the base type's C methods (their
    own ``__str__``, ``strip`` or ``__eq__`` may raise). An int too long for ``str()``
    (``sys.get_int_max_str_digits()``), or anything else that cannot be converted, is no
    distinct_id: the event goes out anonymous rather than not at all."""
    kind = type(value)
    if kind is str:
        return value if value.strip() else None
    if value is None or kind is bool:
        return None
    try:
        if kind is int or issubclass(kind, int):
            return int.__repr__(value)
        if issubclass(kind, str):
            text = str.__str__(value)
            return text if text.strip() else None
        uuid_module = sys.modules.get("uuid")
        if uuid_module is not None and issubclass(kind, uuid_module.UUID):
            return str(uuid_module.UUID(int=value.int))
    except Exception:
        from ._serialize import safe_repr

        logger.warning(
            "distinct_id %s is not readable as text; using an anonymous id", safe_repr(value, 100)
        )
    return None


def problem(event: Any) -> str | None:
    """What the capture service would refuse in ``event`` (a whole request is refused for
    one such event), or ``None``: a non-empty event name, a distinct id (top level or in
    the properties), a properties object, and if given an ISO-8601 timestamp and a UUID."""
    if not isinstance(event, dict):
        return "not an object"
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return "no event name"
    properties = event.get("properties", {})
    if not isinstance(properties, dict):
        return "properties is not an object"
    person = event.get("distinct_id")
    if person is None:
        person = properties.get("distinct_id")
    if _distinct_id_text(person) is None:
        return "no distinct_id"
    timestamp = event.get("timestamp")
    if timestamp is not None:
        try:
            if not isinstance(timestamp, str):
                raise TypeError
            text = timestamp.strip()
            _parse_iso(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except (TypeError, ValueError):
            return f"timestamp {timestamp!r:.60} is not ISO-8601"
    uuid = event.get("uuid")
    if uuid is not None:
        import uuid as _uuid

        try:
            _uuid.UUID(str(uuid))
        except (TypeError, ValueError, AttributeError):
            return f"uuid {uuid!r:.60} is not a UUID"
    return None
