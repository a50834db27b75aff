"""The option table: every option declared once, and the README's table kept true to it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from posthog_exceptions import Client, Options
from posthog_exceptions._config import OPTION_NAMES, Option, build_options

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_rows() -> dict[str, tuple[str, ...]]:
    """``{option: the backquoted items of its default cell}`` from the README's table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, ...]] = {}
    in_table = False
    for line in section.splitlines():
        if line.startswith("| option | default |"):
            in_table = True
            continue
        if not in_table or line.startswith("|---"):
            continue
        if not line.startswith("|"):
            break
        names_cell, default_cell = line.split("|")[1:3]
        names = re.findall(r"`([^`]+)`", names_cell)
        defaults = tuple(re.findall(r"`([^`]+)`", default_cell))
        assert names, f"a README option row without a name: {line}"
        for index, name in enumerate(names):
            assert name not in rows, f"{name} is listed twice in the README"
            if len(names) > 1 and len(defaults) == len(names):
                rows[name] = (defaults[index],)
            else:
                rows[name] = defaults
    return rows


def test_the_readme_lists_exactly_the_options_with_their_defaults() -> None:
    rows = _readme_rows()
    table = {item.name: item for item in Options.TABLE}
    assert sorted(rows) == sorted(table), "README options differ from Options.TABLE"
    for name, shown in rows.items():
        assert shown == table[name].shown_default, f"README default of {name}"


def test_every_option_is_declared_once_with_a_check_its_default_passes() -> None:
    names = [item.name for item in Options.TABLE]
    assert len(names) == len(set(names)) > 30
    assert names[:2] == ["api_key", "host"]
    assert set(OPTION_NAMES) == set(names) - {"api_key", "host"}
    for item in Options.TABLE:
        assert isinstance(item, Option) and item.doc
        if item.check is not None:
            assert item.check(item.name, item.default) == item.default, item.name


def test_options_are_built_from_the_table() -> None:
    options = build_options("phc_k", None, {"batch_size": 7}, environ={})
    for item in Options.TABLE:
        expected = {"api_key": "phc_k", "batch_size": 7}.get(item.name, item.default)
        assert getattr(options, item.name) == expected, item.name
    assert options == options._replace()
    assert hash(options) == hash(options._replace())
    assert options._replace(batch_size=8).batch_size == 8
    with pytest.raises(AttributeError, match="immutable"):
        options.batch_size = 1


@pytest.mark.parametrize("item", [i for i in Options.TABLE if i.check is not None], ids=str)
def test_each_option_is_checked_and_named_in_the_error(item: Option) -> None:
    with pytest.raises((TypeError, ValueError), match=rf"'{item.name}'"):
        bad: dict[str, Any] = {item.name: object()}
        Client("phc_k", **bad)
