"""The public surface lives in one place and stays deliberate."""

from __future__ import annotations

import subprocess
import sys

import posthog_exceptions

LAZY = {  # loaded on first access: types for type checkers, integrations that import logging
    "Stats",
    "Transport",
    "LoggingHandler",
    "capture_logging",
    "uncapture_logging",
    "install_asyncio_handler",
}


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(posthog_exceptions).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("posthog_")
    }
    public |= {name for name in vars(posthog_exceptions) if name.isupper()}
    public -= {"TYPE_CHECKING"}
    assert set(posthog_exceptions.__all__) == public | LAZY | {"__version__"}
    assert len(set(posthog_exceptions.__all__)) == len(posthog_exceptions.__all__)


def test_every_exported_name_resolves() -> None:
    for name in posthog_exceptions.__all__:
        assert getattr(posthog_exceptions, name) is not None
    from posthog_exceptions import Stats, Transport

    assert Stats.__name__ == "Stats"
    assert Transport.__name__ == "Transport"


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        posthog_exceptions.nothing_here  # noqa: B018
    except AttributeError as exc:
        assert "nothing_here" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_module_functions_match_client_methods() -> None:
    for name in ("capture", "identify", "alias", "flush", "shutdown", "stats", "capture_exception"):
        assert callable(getattr(posthog_exceptions.Client, name))
        assert callable(getattr(posthog_exceptions, name))


def test_import_loads_nothing_heavy() -> None:
    """Importing the package stays cheap: no typing, json, re, logging, dataclasses, ..."""
    heavy = [
        "typing",
        "json",
        "re",
        "logging",
        "dataclasses",
        "enum",
        "inspect",
        "wrapt",
        "requests",
        "urllib3",
        "datetime",
        "gzip",
        "sqlite3",
        "http.server",
        # The web-framework integrations are imported only by the apps that use them.
        "posthog_exceptions.integrations",
        "django",
        "flask",
        "werkzeug",
        "starlette",
        "fastapi",
        "asgiref",
        "uvicorn",
    ]
    code = (
        f"import sys, posthog_exceptions; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
