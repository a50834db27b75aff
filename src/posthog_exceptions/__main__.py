"""Command line: ``python -m posthog_exceptions <command>`` (also ``posthog-exceptions``).

Each command module exposes ``register(subparsers)``, which adds its
sub-parsers and sets ``handler`` (a function ``(argparse.Namespace) -> int``)
as a parser default. To add commands, append the module to :data:`COMMAND_MODULES`.
Modules are imported only when the parser is built, so importing the package
stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, Callable, Sequence

from ._version import __version__

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

COMMAND_MODULES: Sequence[str] = (
    "posthog_exceptions.inbox._cli",
    "posthog_exceptions.inbox._issues",
    "posthog_exceptions._delivery.flush_spool",
)
"""Modules whose ``register(subparsers)`` adds sub-commands, in help order."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="posthog-exceptions",
        description="Tools for posthog-exceptions.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        register: Callable[[Subparsers], None] = importlib.import_module(name).register
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit status (2 for a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
