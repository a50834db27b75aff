"""RQ: a job that fails is sent once, with the job's properties and the producer's context.

::

    rq worker --worker-class posthog_exceptions.integrations.rq.Worker

    # or, keeping a worker class of your own:
    rq worker --exception-handler posthog_exceptions.integrations.rq.exception_handler
    # or, in Python:
    from posthog_exceptions.integrations import rq as posthog_rq
    MyWorker(queues, exception_handlers=[posthog_rq.make_exception_handler()])

    # the producer, to carry its context (person, session, tags) to the job:
    queue.enqueue(charge, order, meta=posthog_rq.context_meta())

The worker process must call :func:`posthog_exceptions.init` (in the module that defines
the jobs, or ``rq worker --worker-class`` of its own). RQ calls exception handlers
before it decides whether to retry: a failure the job will be retried for
(``Retry(max=…)`` with retries left) is not sent unless ``capture_retries=True`` — the
final failure is, once. The event has ``mechanism.type`` ``task``, ``handled: false``,
``$exception_source`` ``rq.exception_handler``, and ``rq_job_id``, ``rq_job_func_name``,
``rq_queue`` and ``rq_retries_left`` (never the job's arguments). RQ runs each job in a
forked work horse that ends with ``os._exit()``: the handler flushes, within
``shutdown_timeout``, before it returns. The handler always returns ``True``, so the
handlers after it (RQ's own moving of the job to the failed registry) still run.

:class:`Worker` (an ``rq.Worker``) installs the handler and also flushes after every
job, failed or not: with the handler alone, what a *successful* job captured (an event,
a logged error) waits in a queue that the work horse's ``os._exit()`` throws away.
"""

from __future__ import annotations

from posthog_exceptions._capture import kinds as _kinds
from posthog_exceptions._context import Context, current, remember
from posthog_exceptions._serialize import safe_str
from posthog_exceptions._validate import check_bool

from . import _common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from posthog_exceptions._client import Client

KIND = _kinds.RQ
RETRY_KIND = _kinds.RQ_RETRY
INTEGRATION = "rq"
META_KEY = "posthog_context"
"""The key of ``job.meta`` that carries the producer's context."""


def context_meta(meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """``meta`` (a new dict if ``None``) with the current context's distinct id, session
    id and tags under :data:`META_KEY`, for ``queue.enqueue(..., meta=…)``."""
    meta = {} if meta is None else dict(meta)
    scope = current()
    if scope is not None:
        carried = {
            "distinct_id": scope.distinct_id(),
            "session_id": scope.session_id(),
            "tags": scope.tags(),
        }
        meta[META_KEY] = {key: value for key, value in carried.items() if value}
    return meta


def make_exception_handler(
    *, client: Client | None = None, capture_retries: bool = False
) -> Callable[..., bool]:
    """An RQ exception handler; ``client`` defaults to the one ``init()`` installed."""
    _common.check_options(None, client)
    check_bool("capture_retries", capture_retries)

    def handler(job: Any, exc_type: Any, exc_value: Any, traceback: Any) -> bool:
        try:
            _handle(job, exc_value, client, capture_retries)
        except Exception:
            _common.report_failure(INTEGRATION)
        return True

    return handler


def _handle(job: Any, exc: Any, client: Client | None, capture_retries: bool) -> None:
    if not isinstance(exc, Exception):
        return
    will_retry = bool(getattr(job, "should_retry", False))
    if will_retry and not capture_retries:
        return
    found = _common.get_client(client)
    if found is None:
        return
    remember(exc, _job_context(job, found))
    found._capture(RETRY_KIND if will_retry else KIND, exc, properties=job_properties(job))
    _flush(found)  # the work horse ends with os._exit()


def job_properties(job: Any) -> dict[str, Any]:
    """What an event says of the job: id, function, queue, retries left; never arguments."""
    props: dict[str, Any] = {}
    for name, attribute in (
        ("rq_job_id", "id"),
        ("rq_job_func_name", "func_name"),
        ("rq_queue", "origin"),
    ):
        try:
            value = getattr(job, attribute, None)
        except Exception:  # a job that cannot be deserialised
            value = None
        if isinstance(value, str):
            props[name] = safe_str(value, 200)
    retries_left = getattr(job, "retries_left", None)
    if isinstance(retries_left, int) and not isinstance(retries_left, bool):
        props["rq_retries_left"] = retries_left
    return props


def _job_context(job: Any, client: Client) -> Context:
    """A fresh context from what the producer put in ``job.meta`` (see :func:`context_meta`)."""
    scope = Context(None, fresh=True, capture_exceptions=False, client=client)
    meta = getattr(job, "meta", None)
    carried = meta.get(META_KEY) if isinstance(meta, dict) else None
    if isinstance(carried, dict):
        distinct_id, session_id = carried.get("distinct_id"), carried.get("session_id")
        if isinstance(distinct_id, str) and distinct_id:
            scope.own_distinct_id = safe_str(distinct_id, 1000)
        if isinstance(session_id, str) and session_id:
            scope.own_session_id = safe_str(session_id, 1000)
        tags = carried.get("tags")
        if isinstance(tags, dict):
            scope.own_tags.update(tags)
    return scope


exception_handler = make_exception_handler()
"""The handler with the defaults, for ``rq worker --exception-handler``."""


def _flush(client: Client | None = None) -> None:
    try:
        found = _common.get_client(client)
        if found is not None:
            found.flush(found.options.shutdown_timeout)
    except Exception:
        _common.report_failure(INTEGRATION)


def _worker_class() -> type:
    import rq

    class Worker(rq.Worker):
        """``rq.Worker`` that sends what fails (:data:`exception_handler`, ahead of any
        given) and flushes after every job, in the work horse, before it ends."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._exc_handlers.insert(0, exception_handler)

        def perform_job(self, job: Any, queue: Any) -> Any:
            try:
                return super().perform_job(job, queue)
            finally:
                _flush()

    Worker.__module__ = __name__
    return Worker


def __getattr__(name: str) -> Any:
    """``Worker`` is made when first asked for (importing this module imports no RQ)."""
    if name == "Worker":
        made = _worker_class()
        globals()["Worker"] = made
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
