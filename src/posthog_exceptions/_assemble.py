"""The parts every event of a client shares, and what the context adds to it.

An event's properties are, the later winning: the runtime properties
(:mod:`posthog_exceptions._runtime`), ``$geoip_disable`` (unless ``disable_geoip=False``),
``$release_id`` (the option, else ``POSTHOG_RELEASE_ID``; blank means none), the super
properties with ``release`` and ``environment``, the context's tags (scrubbed, see
:mod:`._capture.scrub`), and the call's own properties; then ``$lib``/``$lib_version``,
and from the context ``$session_id`` and ``$window_id`` where the call gave none.

The distinct id, the first that is set: the call's own, the context's
(``identify_context``), an integration's ``distinct_id`` callable's, the
``X-POSTHOG-DISTINCT-ID`` header a web integration read, the client's ``distinct_id``
option; else a random one, with ``$process_person_profile: false``.
"""

from __future__ import annotations

from . import _context
from ._event import new_uuid, normalize_distinct_id
from ._log import logger
from ._serialize import clean
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from ._config import Options

    Taken = tuple[Optional[dict[str, Any]], Optional[str], Optional[str]]
    """What an event takes of the context at its capture (see :func:`context`)."""

LIB_NAME = "posthog-exceptions"


class Assembler:
    """Completes events for one client (see the module docstring)."""

    def __init__(self, options: Options) -> None:
        from ._runtime import runtime_properties

        self._options = options
        self._scrubber: Any = None
        base: dict[str, Any] = runtime_properties()
        if options.disable_geoip:
            base["$geoip_disable"] = True
        if options.release_id is not None:  # the option, else POSTHOG_RELEASE_ID
            base["$release_id"] = options.release_id
        base.update(clean(dict(options.properties)))
        if options.release is not None:
            base["release"] = options.release
        if options.environment is not None:
            base["environment"] = options.environment
        self.base = base

    def properties(
        self, properties: dict[str, Any], scope: _context.Context | None
    ) -> dict[str, Any]:
        """The event's properties: :meth:`merge` of the call's and :meth:`context`."""
        return self.merge(properties, context(scope))

    def merge(self, properties: dict[str, Any], taken: Taken) -> dict[str, Any]:
        """The base, the context's tags (scrubbed now), ``properties``, the library's name
        and the context's session and window: what :func:`context` took, merged. Any
        thread may do it (the delivery thread does, for an ``$exception`` event)."""
        props = dict(self.base)
        tags, session, window = taken
        if tags:
            props.update(self._scrubbed(tags))
        props.update(properties)
        props["$lib"] = LIB_NAME
        props["$lib_version"] = __version__
        if session is not None and "$session_id" not in props:
            props["$session_id"] = session
        if window is not None and "$window_id" not in props:
            props["$window_id"] = window
        return props

    def _scrubbed(self, tags: dict[str, Any]) -> dict[str, Any]:
        """The context's tags with secrets masked (see :mod:`._capture.scrub`)."""
        scrubber = self._scrubber
        if scrubber is None:
            from ._capture.scrub import for_options

            scrubber = self._scrubber = for_options(self._options)
        scrubbed: dict[str, Any] = scrubber.scrub_properties(tags)
        return scrubbed

    def person(self, distinct_id: Any, fallback: Any, scope: _context.Context | None) -> str | None:
        """The distinct id by the precedence of the module docstring; ``None``: anonymous."""
        person = normalize_distinct_id(distinct_id) if distinct_id is not None else None
        if person is None and scope is not None:
            person = scope.distinct_id()
        if person is None and fallback is not None:
            person = normalize_distinct_id(fallback)
        if person is None and scope is not None:
            person = scope.header_person()
        if person is None:
            default = self._options.distinct_id
            person = default if default is None or type(default) is str else self._default()
        return person

    def _default(self) -> str | None:
        default = self._options.distinct_id
        if default is None or isinstance(default, str):
            return default
        try:
            return normalize_distinct_id(default())
        except Exception:
            logger.warning("the distinct_id callable raised; using an anonymous id", exc_info=True)
            return None


def context(scope: _context.Context | None) -> Taken:
    """What an event takes of the context when it is captured (the context may change
    after): a copy of the tags (``None`` when there are none), the session and window ids."""
    if scope is None:
        return _NO_CONTEXT
    tags = scope.tags()
    return (clean(tags) if tags else None), scope.session_id(), scope.window_id()


_NO_CONTEXT: Taken = (None, None, None)


def anonymous() -> str:
    return new_uuid()
