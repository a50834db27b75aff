"""Options are validated at construction: every bad value raises with the option and the value."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from posthog_exceptions import Client, init
from posthog_exceptions._config import build_options
from posthog_exceptions._validate import EU_HOST, US_HOST

KEY = "phc_abc123"


@pytest.mark.parametrize(
    ("options", "error", "fragments"),
    [
        (
            {"batchsize": 5},
            TypeError,
            ["unknown option 'batchsize'", "5", "did you mean 'batch_size'"],
        ),
        ({"colour": "red"}, TypeError, ["unknown option 'colour'", "'red'"]),
        ({"batch_size": "10"}, TypeError, ["'batch_size'", "'10' (str)"]),
        ({"batch_size": True}, TypeError, ["'batch_size'", "True (bool)"]),
        ({"batch_size": 0}, ValueError, ["'batch_size'", "at least 1", "got 0"]),
        ({"batch_size": -5}, ValueError, ["'batch_size'", "got -5"]),
        ({"max_queue_size": -1}, ValueError, ["'max_queue_size'", "got -1"]),
        ({"max_queue_bytes": -1}, ValueError, ["'max_queue_bytes'", "got -1"]),
        ({"max_retries": -1}, ValueError, ["'max_retries'", "got -1"]),
        ({"max_retries": 2.5}, TypeError, ["'max_retries'", "2.5 (float)"]),
        ({"timeout": -1}, ValueError, ["'timeout'", "got -1"]),
        ({"timeout": 0}, ValueError, ["'timeout'", "got 0"]),
        ({"timeout": "5"}, TypeError, ["'timeout'", "'5' (str)"]),
        ({"timeout": float("nan")}, ValueError, ["'timeout'", "nan"]),
        ({"shutdown_timeout": -0.5}, ValueError, ["'shutdown_timeout'", "got -0.5"]),
        ({"shutdown_timeout": float("inf")}, ValueError, ["'shutdown_timeout'", "inf"]),
        ({"gzip": "yes"}, TypeError, ["'gzip'", "'yes' (str)"]),
        ({"sync_mode": 1}, TypeError, ["'sync_mode'", "1 (int)"]),
        ({"disabled": None}, TypeError, ["'disabled'", "None (NoneType)"]),
        ({"debug": "false"}, TypeError, ["'debug'", "'false' (str)"]),
        ({"before_send": "drop"}, TypeError, ["'before_send'", "'drop' (str)"]),
        ({"distinct_id": 42}, TypeError, ["'distinct_id'", "42 (int)"]),
        ({"distinct_id": "  "}, ValueError, ["'distinct_id'", "'  '"]),
        ({"properties": ["a"]}, TypeError, ["'properties'", "['a'] (list)"]),
        ({"properties": {1: "a"}}, TypeError, ["'properties'", "1 (int)"]),
        ({"release": 3}, TypeError, ["'release'", "3 (int)"]),
        ({"environment": b"prod"}, TypeError, ["'environment'", "b'prod' (bytes)"]),
        ({"transport": object()}, TypeError, ["'transport'", "object"]),
        ({"ignore": "KeyError"}, TypeError, ["'ignore'", "'KeyError' (str)"]),
        ({"ignore": (KeyError, int)}, TypeError, ["'ignore'", "int"]),
        ({"scrub_names": [1]}, TypeError, ["'scrub_names'", "[1] (list)"]),
        ({"scrub_names": ["ok", " "]}, ValueError, ["'scrub_names'", "' '"]),
        ({"in_app_include": 5}, TypeError, ["'in_app_include'", "5 (int)"]),
        ({"in_app_exclude": [None]}, TypeError, ["'in_app_exclude'", "[None] (list)"]),
        ({"project_root": 3}, TypeError, ["'project_root'", "3 (int)"]),
        ({"project_root": ""}, ValueError, ["'project_root'", "''"]),
        ({"frame_format": "sentry"}, ValueError, ["'frame_format'", "'sentry'"]),
        ({"frame_format": None}, TypeError, ["'frame_format'", "None (NoneType)"]),
        ({"max_frames": 5}, ValueError, ["'max_frames'", "at least 10", "got 5"]),
        ({"context_lines": -1}, ValueError, ["'context_lines'", "got -1"]),
        ({"capture_locals": "yes"}, TypeError, ["'capture_locals'", "'yes' (str)"]),
        ({"capture_interactive": 0}, TypeError, ["'capture_interactive'", "0 (int)"]),
        ({"rate_limit": "on"}, TypeError, ["'rate_limit'", "'on' (str)"]),
        ({"spool_dir": 7}, TypeError, ["'spool_dir'", "7 (int)"]),
        ({"spool_dir": ""}, ValueError, ["'spool_dir'", "''"]),
        ({"spool_max_bytes": 0}, ValueError, ["'spool_max_bytes'", "got 0"]),
        ({"rate_limit_burst": 0}, ValueError, ["'rate_limit_burst'", "got 0"]),
        ({"rate_limit_per_second": -1}, ValueError, ["'rate_limit_per_second'", "got -1"]),
        ({"rate_limit_per_second": "1/s"}, TypeError, ["'rate_limit_per_second'", "'1/s'"]),
    ],
)
def test_bad_option_names_the_option_and_the_value(
    options: dict[str, Any], error: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(error) as raised:
        Client(KEY, **options)
    for fragment in fragments:
        assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("key", "error", "fragments"),
    [
        ("", ValueError, ["'api_key'", "empty", "''"]),
        ("   ", ValueError, ["'api_key'", "empty", "'   '"]),
        ("phx_secretpersonalkey", ValueError, ["'api_key'", "personal API key", "phx_"]),
        ("phc_" + "a" * 61, ValueError, ["'api_key'", "at most 64", "65 characters"]),
        ("phc_clé", ValueError, ["'api_key'", "ASCII", "'phc_clé'"]),
        ("phc_a\x00b", ValueError, ["'api_key'", "NUL"]),
        (12345, TypeError, ["'api_key'", "12345 (int)"]),
    ],
)
def test_bad_api_key(key: Any, error: type[Exception], fragments: list[str]) -> None:
    with pytest.raises(error) as raised:
        Client(key)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_personal_key_is_not_echoed_in_full() -> None:
    with pytest.raises(ValueError) as raised:
        Client("phx_TOPSECRETVALUE")
    assert "TOPSECRETVALUE" not in str(raised.value)


@pytest.mark.parametrize(
    "host",
    ["ftp://example.com", "example.com", "http://", "https://x.com/?q=1", "", "localhost:8000"],
)
def test_bad_host(host: str) -> None:
    with pytest.raises(ValueError) as raised:
        Client(KEY, host=host)
    assert "'host'" in str(raised.value)
    assert repr(host) in str(raised.value)


def test_host_of_wrong_type() -> None:
    with pytest.raises(TypeError, match=r"'host'.*8000 \(int\)"):
        Client(KEY, host=8000)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        (None, US_HOST),
        ("us", US_HOST),
        ("EU", EU_HOST),
        ("https://app.posthog.com", US_HOST),
        ("https://eu.posthog.com/", EU_HOST),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://ph.example.com/ingest/", "https://ph.example.com/ingest"),
    ],
)
def test_host_resolution(given: str | None, resolved: str) -> None:
    assert Client(KEY, host=given).options.host == resolved


def test_key_and_host_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTHOG_API_KEY", "  phc_fromenv ")
    monkeypatch.setenv("POSTHOG_HOST", "eu")
    options = Client().options
    assert (options.api_key, options.host) == ("phc_fromenv", EU_HOST)


def test_project_api_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTHOG_PROJECT_API_KEY", "phc_project")
    assert Client().options.api_key == "phc_project"


def test_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTHOG_API_KEY", "phc_fromenv")
    monkeypatch.setenv("POSTHOG_HOST", "eu")
    options = Client("phc_arg", host="us").options
    assert (options.api_key, options.host) == ("phc_arg", US_HOST)


def test_bad_key_in_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTHOG_API_KEY", "phx_personal")
    with pytest.raises(ValueError, match="POSTHOG_API_KEY"):
        Client()


def test_bad_host_in_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTHOG_HOST", "not a url")
    with pytest.raises(ValueError, match=r"POSTHOG_HOST.*'not a url'"):
        Client(KEY)


def test_no_key_anywhere_gives_a_disabled_client_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="posthog_exceptions"):
        client = init()
    assert not client.enabled
    assert client.capture("event") is None
    warnings = [r for r in caplog.records if "no PostHog project API key" in r.getMessage()]
    assert len(warnings) == 1


def test_options_are_frozen_and_typed() -> None:
    client = Client(KEY, batch_size=7, properties={"team": "core"}, timeout=3)
    options = client.options
    assert options.batch_size == 7
    assert options.timeout == 3.0
    assert isinstance(options.timeout, float)
    with pytest.raises(AttributeError):
        options.batch_size = 8
    with pytest.raises(TypeError):
        options.properties["team"] = "x"  # type: ignore[index]


def test_defaults_are_the_documented_ones() -> None:
    options = build_options(KEY, None, {}, environ={})
    assert options.gzip is True
    assert options.sync_mode is False
    assert options.batch_size == 1000
    assert options.max_retries == 10
    assert options.host == US_HOST


def test_install_hooks_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"'install_hooks'.*'no'"):
        init(KEY, install_hooks="no")  # type: ignore[arg-type]


def test_single_names_and_types_are_accepted() -> None:
    options = Client(KEY, ignore=KeyError, in_app_include="myapp", scrub_names="pin").options
    assert options.ignore == (KeyError,)
    assert options.in_app_include == ("myapp",)
    assert options.scrub_names == ("pin",)
