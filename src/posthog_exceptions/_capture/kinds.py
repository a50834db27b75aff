"""How an exception reached the library: one :class:`CaptureKind` per entry point.

Every exception event goes through ``Client._capture(kind, exception, ...)``; the kind
says, once and here, what each entry point means on the wire and which rules apply:

- ``mechanism`` — ``mechanism.type`` of the first ``$exception_list`` entry, one of the
  categories of PostHog's cross-SDK contract (``generic`` for a manual capture,
  ``logger``, ``middleware`` for a request, ``task``, ``onuncaughtexception``,
  ``onunhandledrejection``; ``decorator`` and ``unraisablehook`` name what the contract
  has no category for, as it allows);
- ``handled`` — ``mechanism.handled``: ``True`` the program caught it, ``False`` nobody
  did (it ended the program, a thread, a request or a task), ``None`` unknown (the
  decorator re-raises: something above may handle it), and then omitted;
- ``level`` — ``$exception_level`` unless the call gives its own;
- ``source`` — ``$exception_source``, ``<technology>.<hook>`` as the contract spells it
  (``django.middleware``, ``python.sys_excepthook``), or ``None`` for a manual capture,
  which sends none;
- ``automatic`` — captured without the program asking for that exception (hooks,
  decorator, integrations): such captures also skip the flow-control exceptions
  (``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``, ``asyncio.CancelledError``),
  which a manual ``capture_exception()`` sends if asked to.
"""

from __future__ import annotations

LEVELS = ("fatal", "error", "warning", "log", "info", "debug")
"""The values of ``$exception_level``."""
LEVEL_ALIASES = {
    "critical": "fatal",
    "alert": "fatal",
    "emergency": "fatal",
    "warn": "warning",
    "notice": "info",
    "trace": "debug",
}
"""Other names of levels, as the contract normalises them."""


class CaptureKind:
    """What one entry point says about the exceptions it captures (immutable)."""

    __slots__ = ("automatic", "handled", "level", "mechanism", "source")

    mechanism: str
    handled: bool | None
    level: str
    source: str | None
    automatic: bool

    def __init__(
        self,
        mechanism: str,
        *,
        handled: bool | None,
        level: str,
        source: str | None,
        automatic: bool,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        for name, value in (
            ("mechanism", mechanism),
            ("handled", handled),
            ("level", level),
            ("source", source),
            ("automatic", automatic),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"CaptureKind is immutable: cannot set {name!r}")

    def __repr__(self) -> str:
        return (
            f"CaptureKind({self.mechanism!r}, handled={self.handled!r}, level={self.level!r}, "
            f"source={self.source!r}, automatic={self.automatic!r})"
        )


MANUAL = CaptureKind("generic", handled=True, level="error", source=None, automatic=False)
"""``capture_exception()``: the program hands over an exception it caught (no source: the
contract leaves ``$exception_source`` to integrations)."""
EXCEPTHOOK = CaptureKind(
    "onuncaughtexception",
    handled=False,
    level="fatal",
    source="python.sys_excepthook",
    automatic=True,
)
"""``sys.excepthook``: nobody caught it in the main thread; the program is ending."""
THREADING = CaptureKind(
    "onuncaughtexception",
    handled=False,
    level="error",
    source="python.threading_excepthook",
    automatic=True,
)
"""``threading.excepthook``: it ended a thread (the program goes on)."""
UNRAISABLE = CaptureKind(
    "unraisablehook", handled=False, level="error", source="python.unraisablehook", automatic=True
)
"""``sys.unraisablehook``: Python could only print it (``__del__``, weakref callbacks)."""
MULTIPROCESSING = CaptureKind(
    "task", handled=False, level="error", source="python.multiprocessing", automatic=True
)
"""An exception that escaped the target of a ``multiprocessing`` child process."""
DECORATOR = CaptureKind(
    "decorator", handled=None, level="error", source="python.decorator", automatic=True
)
"""``capture_exceptions`` re-raising: whether something above handles it is unknown."""
DECORATOR_SWALLOWED = CaptureKind(
    "decorator", handled=True, level="error", source="python.decorator", automatic=True
)
"""``capture_exceptions(reraise=False)``: the decorator itself handles it."""
NEW_CONTEXT = CaptureKind(
    "generic", handled=None, level="error", source="python.new_context", automatic=True
)
"""An exception escaping a ``new_context()`` block, which re-raises it."""
LOGGING = CaptureKind(
    "logger", handled=True, level="error", source="python.logging", automatic=True
)
"""A log record carrying an exception (or an error message): the program logged it."""
ASYNCIO = CaptureKind(
    "onunhandledrejection", handled=False, level="error", source="python.asyncio", automatic=True
)
"""An event loop's exception handler: a task or callback failed and nobody awaited it."""


def _web(source: str) -> CaptureKind:
    return CaptureKind("middleware", handled=False, level="error", source=source, automatic=True)


DJANGO = _web("django.middleware")
"""What the web integrations send: an exception escaping a request, answered with a 500."""
FLASK = _web("flask.got_request_exception")
STARLETTE = _web("starlette.middleware")
ASGI = _web("asgi.middleware")
WSGI = _web("wsgi.middleware")
SERVERLESS = _web("serverless.handler")
CELERY = CaptureKind(
    "task", handled=False, level="error", source="celery.task_failure", automatic=True
)
"""A Celery task that failed (``integrations.celery``)."""
CELERY_RETRY = CaptureKind(
    "task", handled=True, level="warning", source="celery.task_retry", automatic=True
)
"""The exception that made a Celery task retry (``capture_retries=True``)."""
RQ = CaptureKind(
    "task", handled=False, level="error", source="rq.exception_handler", automatic=True
)
"""An RQ job that failed for good (``integrations.rq``)."""
RQ_RETRY = CaptureKind(
    "task", handled=True, level="warning", source="rq.exception_handler", automatic=True
)
"""A failed RQ job that will be retried (``capture_retries=True``)."""
"""An exception escaping a serverless handler (``integrations.serverless``)."""
