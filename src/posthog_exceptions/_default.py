"""The slot of the default client: the one :func:`~posthog_exceptions.init` installs.

:mod:`posthog_exceptions._global` fills it; the decorator and the integrations read it,
per exception (:func:`get_client`), so that they work whether they were set up before
or after ``init()``. A module of its own so that readers of the slot need not import
``init()``'s module, which itself imports integrations.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._client import Client

client: Client | None = None
"""The default client, or ``None`` before ``init()`` (and after ``shutdown()``)."""


def get_client() -> Client | None:
    """The client installed by :func:`~posthog_exceptions.init`, or ``None``."""
    return client
