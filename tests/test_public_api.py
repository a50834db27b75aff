"""The public surface lives in one place and stays deliberate."""

from __future__ import annotations

import posthog_exceptions


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(posthog_exceptions).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("posthog_")
    }
    public |= {name for name in vars(posthog_exceptions) if name.isupper()}
    assert set(posthog_exceptions.__all__) == public | {"__version__"}
    assert len(set(posthog_exceptions.__all__)) == len(posthog_exceptions.__all__)


def test_every_exported_name_resolves() -> None:
    for name in posthog_exceptions.__all__:
        assert getattr(posthog_exceptions, name) is not None


def test_module_functions_match_client_methods() -> None:
    for name in ("capture", "identify", "alias", "flush", "shutdown", "stats"):
        assert callable(getattr(posthog_exceptions.Client, name))
        assert callable(getattr(posthog_exceptions, name))
