"""``$exception`` events queued at the capture and built by the thread that sends them.

What cannot wait is done on the calling thread: the walk of the exceptions and their
frames (type, message, notes, chain; code objects, lines, instructions), the checks that
decide whether the event is sent at all (ignore rules, dedupe, the rate limit and its
grouping key: computed here only when the rate limit or the call's ``fingerprint=`` needs
it), the local variables (``capture_locals``: bounded and scrubbed, as they are now), the
context's person, session and tags (copied), the event's uuid and time. No frame,
traceback or exception is kept once the call returns (:mod:`._capture.detached`).

What can wait is done by the delivery thread when it takes the event for a request:
the grouping key when nothing needed it before, the scrubbing of messages (but those
the key read on the calling thread), tags and properties, the
merge with the client's base properties, an anonymous distinct id, the timestamp's text,
context lines, the wire form of each frame, the ``$exception_list``, the event's JSON and
the size check (an event still too large after shrinking is dropped and counted,
``too_large``; its uuid was returned already). Ordering, ``flush()`` (a queued event is
pending whether built or not), exit-time delivery, fork and the queue's bounds (by the
estimates of :func:`estimate`) hold as for every event.

Events are built at the capture, as before, in ``sync_mode`` and with ``before_send``
(which sees the finished event on the calling thread).
"""

from __future__ import annotations

from time import time_ns

from ._assemble import anonymous, context
from ._event import iso_at, new_uuid, top_up_tails
from ._log import internal_error
from ._payload import Deferred

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from . import _context
    from ._assemble import Taken
    from ._capture.builder import Walked
    from ._capture.kinds import CaptureKind

    Client = Any  # (the client imports this module: no import back)
    from ._payload import Built


def send(
    client: Client,
    walked: Walked,
    kind: CaptureKind,
    level: str | None,
    props: dict[str, Any],
    person: tuple[Any, Any],
    scope: _context.Context | None,
    suppressed: int,
) -> str | None:
    """Queue a walked exception's event: unbuilt, or built now in ``sync_mode`` and with
    ``before_send``; its uuid, or ``None`` when it was not queued.
    ``person`` is (the call's distinct id, the fallback)."""
    if not client._defer:
        return _send_now(client, walked, kind, level, props, person, scope, suppressed)
    return _queue(client, walked, kind, level, props, person, scope, suppressed)


def _queue(
    client: Client,
    walked: Walked,
    kind: CaptureKind,
    level: str | None,
    props: dict[str, Any],
    person: tuple[Any, Any],
    scope: _context.Context | None,
    suppressed: int,
) -> str | None:
    """Snapshot what may change, queue the event unbuilt; its uuid, or ``None`` if the
    queue refused it (counted)."""
    builder = client._exceptions
    assert builder is not None
    size, memory = builder.detach(walked)
    context_part = context(scope)
    distinct_id = client._assembler.person(person[0], person[1], scope)
    now = time_ns()
    uid = new_uuid(now)
    taken = (uid, now, distinct_id, props, context_part)
    deferred = Deferred(_build, (client, walked, kind, level, suppressed, taken), size, memory)
    return uid if client._worker.put(deferred, uid) else None


def _send_now(
    client: Client,
    walked: Walked,
    kind: CaptureKind,
    level: str | None,
    props: dict[str, Any],
    person: tuple[Any, Any],
    scope: _context.Context | None,
    suppressed: int,
) -> str | None:
    """Build the event on the calling thread and queue it (sync mode, before_send)."""
    builder = client._exceptions
    assert builder is not None
    built = builder.properties(walked, kind, level)
    props = builder.scrubber.scrub_properties(props)
    props.update(built)
    if suppressed:
        props["$exception_suppressed_count"] = suppressed
    listed = built["$exception_list"]
    uid: str | None = client._send(
        "$exception", person[0], props, exceptions=listed, fallback=person[1], scope=scope
    )
    return uid


def _build(
    client: Client,
    walked: Walked,
    kind: CaptureKind,
    level: str | None,
    suppressed: int,
    taken: tuple[str, int, str | None, dict[str, Any], Taken],
) -> Built | None:
    """The event's JSON, on the sending thread; ``None`` (counted) when it cannot be sent.
    ``taken`` is what the capture took: uuid, time, distinct id (``None``: anonymous),
    the call's properties (cleaned, not yet scrubbed) and the context's part."""
    try:
        builder = client._exceptions
        assert builder is not None
        uid, now, distinct_id, props, context_part = taken
        properties = client._assembler.merge(builder.scrubber.scrub_properties(props), context_part)
        if distinct_id is None:
            distinct_id = anonymous()
            properties["$process_person_profile"] = False
        built = builder.properties(walked, kind, level)
        properties.update(built)
        if suppressed:
            properties["$exception_suppressed_count"] = suppressed
        event = {
            "event": "$exception",
            "distinct_id": distinct_id,
            "properties": properties,
            "timestamp": iso_at(now),
            "uuid": uid,
        }
        payload: Built | None = client._encode(event, built["$exception_list"])
        top_up_tails()  # (here, so that captures rarely make the random ends of ids)
        return payload
    except Exception:
        client._counters.drop("internal_error")
        internal_error("could not build a captured $exception event")
        return None
