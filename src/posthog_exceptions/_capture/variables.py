"""Safe, bounded serialisation of a frame's local variables, with secret scrubbing.

With ``capture_locals=True`` each in-app frame carries ``code_variables``, rendered by
:func:`serialize_locals` on the thread that caught the exception. It never raises: it
catches ``Exception`` only, so a ``KeyboardInterrupt``/``SystemExit`` raised by a user
``__repr__`` during capture propagates and Ctrl-C keeps working.

Values are rendered by :mod:`posthog_exceptions._capture.values` (what is kept, how
containers are walked, the time bound of ``repr()``).

The budget
    One :class:`Budget` per event, shared by its frames. Once ``max_bytes_per_event``
    (names plus rendered values) or ``max_seconds_per_event`` (time spent here) is spent,
    the rest of the frame becomes ``"...": "<budget exhausted>"`` and later frames ``{}``.

Scrubbing
    The client's scrubber (:mod:`.scrub`, its rules in its docstring): a variable, dict
    key, dataclass or namedtuple field with a sensitive name gets :data:`MASK` without its
    value being rendered, and so does the item after a sensitive name in a sequence
    (``("password", x)``, ``["--token", x]``, ASGI header pairs); strings and reprs are
    scrubbed by the text rules. Only ``max_value_length`` + 256 characters are scrubbed,
    so a secret over 256 characters long crossing the cut may show its start (PEM blocks
    are masked to the end of the window).
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from posthog_exceptions._log import internal_error, logger

from .bounded import Abort, call_bounded
from .scrub import MASK
from .values import INT_MAX, Renderer, VariableLimits, clip

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .scrub import Scrubber

_DEFAULT_LIMITS = VariableLimits()


class Budget:
    """What one event may still spend on local variables; shared by its frames.

    Not thread-safe: use one per event, on the thread that builds it."""

    __slots__ = ("_bytes", "_exhausted", "_renderer", "_seconds", "limits")

    def __init__(self, limits: VariableLimits = _DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._bytes = 0
        self._seconds = 0.0
        self._renderer: Renderer | None = None  # made with the event's first frame
        self._exhausted = False

    @property
    def spent(self) -> int:
        """The bytes of variables rendered so far."""
        return self._bytes

    @property
    def exhausted(self) -> bool:
        """True once the event's byte or time budget ran out; later frames get ``{}``."""
        return self._exhausted


def serialize_locals(
    variables: Mapping[str, object], budget: Budget, scrubber: Scrubber
) -> dict[str, object]:
    """JSON-safe dict for one frame: {name: value}. Never raises."""
    if budget._exhausted:
        return {}
    start = perf_counter()
    try:
        return _serialize(variables, budget, scrubber, start)
    except Exception:
        internal_error("serialising local variables failed")
        return {}
    finally:
        budget._seconds += perf_counter() - start


def _serialize(
    variables: Mapping[str, object], budget: Budget, scrubber: Scrubber, start: float
) -> dict[str, object]:
    limits = budget.limits
    deadline = start + limits.max_seconds_per_event - budget._seconds
    try:  # f_locals is a dict, or on 3.13+ a proxy we only read; anything else may be hostile
        if type(variables) is dict:
            items: list[tuple[Any, object]] = list(dict.items(variables))
        else:
            items = call_bounded(lambda m: [(k, v) for k, v in m.items()], variables, deadline)
    except (Abort, Exception):
        logger.debug("could not read a frame's local variables", exc_info=True)
        return {}
    renderer = budget._renderer
    if renderer is None or renderer.scrubber is not scrubber:
        renderer = budget._renderer = Renderer(limits, scrubber)
    renderer.deadline = deadline
    top, name_is_sensitive, levels = renderer.top, scrubber.name_is_sensitive, scrubber.levels
    max_variables, max_bytes = limits.max_variables_per_frame, limits.max_bytes_per_event
    used = budget._bytes
    out: dict[str, object] = {}
    more = 0
    for name, value in items:
        if type(name) is str and len(name) > 4 and name[:2] == "__" and name[-2:] == "__":
            continue
        if len(out) >= max_variables:
            more += 1
            continue
        if used >= max_bytes or perf_counter() >= deadline:
            budget._bytes = used
            budget._exhausted = True
            out["..."] = "<budget exhausted>"
            return out
        if type(name) is str and len(name) <= 256 and name.isascii():
            key = name  # a plain identifier: the usual case
            level = levels.get(key)
            sensitive = name_is_sensitive(key) if level is None else level > 0
        elif issubclass(type(name), str):
            key = clip(str.__getitem__(name, slice(0, 256)), 256)
            sensitive = name_is_sensitive(key)
        else:
            key, sensitive = renderer.text(name, 1, 256), False
        if sensitive:
            rendered: object = MASK
        elif type(value) is int and -INT_MAX <= value <= INT_MAX:  # no need for top()
            rendered = value
        else:
            renderer.value_deadline = 0.0
            try:
                rendered = top(value)
            except Exception:  # a value no rule above foresaw: lose it, not the whole frame
                logger.debug("could not render a local variable", exc_info=True)
                rendered = "<unrepresentable>"
        out[key] = rendered
        # names plus values as rendered; numbers, booleans and None count as 8 characters
        used += len(key) + (len(rendered) if type(rendered) is str else 8)
    budget._bytes = used
    if more:
        out["..."] = f"<{more} more>"
    return out
