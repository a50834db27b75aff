"""Nothing secret leaves the process: a corpus of secrets placed where real programs put
them (tests/secrets_program.py), sent through the public API in a real process to the
recording server, looked for in every byte it received; and innocent strings kept."""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import uuid
from pathlib import Path

import pytest

from posthog_exceptions._capture.scrub import MASK, Scrubber

from .recording_server import RecordingServer
from .worker_models import program_env

PROGRAM = Path(__file__).with_name("secrets_program.py")


def received(server: RecordingServer) -> bytes:
    """Every request body as the server got it, gzip undone."""
    bodies = []
    for request in server.requests:
        raw = request.raw
        bodies.append(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return b"\n".join(bodies)


@pytest.mark.parametrize("capture_locals", ["on", "off"])
def test_no_secret_of_the_corpus_reaches_the_server(capture_locals: str, tmp_path: Path) -> None:
    import shutil
    import subprocess

    program = shutil.copy(PROGRAM, tmp_path / PROGRAM.name)  # away from tests/typing
    with RecordingServer() as server:
        finished = subprocess.run(
            [sys.executable, str(program), capture_locals],
            capture_output=True,
            text=True,
            timeout=120,
            env=program_env(server),
            check=False,
        )
        assert finished.returncode == 0, finished.stderr
        report = json.loads(finished.stdout.strip().splitlines()[-1])
        secrets: dict[str, str] = report["secrets"]
        server.wait_for(
            lambda: sum(e["event"] == "$exception" for e in server.events) >= report["captured"]
        )
        body = received(server)
        events = server.events
    assert len(secrets) >= 60
    leaked = {name: value for name, value in secrets.items() if value.encode() in body}
    assert leaked == {}
    text = body.decode()
    assert len([e for e in events if e["event"] == "$exception"]) == report["captured"]
    # Only the secret part goes: the rest of each message stays readable.
    assert "cannot connect to postgres://admin:[Filtered]@db/prod" in text
    assert "request failed: token=[Filtered]" in text
    assert '"$thread_name": "worker token=[Filtered]"' in text or "worker token=[Filtered]" in text
    frames = {
        frame["function"]: frame
        for event in events
        if event["event"] == "$exception"
        for entry in event["properties"]["$exception_list"]
        for frame in entry["stacktrace"]["frames"]
    }
    if capture_locals == "on":
        names = frames["names_in_a_frame"]["code_variables"]
        assert names["PASS"] == names["stripe_key"] == names["userPin"] == MASK
        values = frames["values_in_a_frame"]["code_variables"]
        assert values["j"] == "['deploy', '--password', '[Filtered]']"
        assert values["a"] == "postgres://admin:[Filtered]@db/prod"
        containers = frames["containers_in_a_frame"]["code_variables"]
        assert containers["settings"] == "{'host': 'db', 'pass': '[Filtered]'}"
        assert containers["login"].endswith("Login(user='bob', pw='[Filtered]')")
    else:
        assert "code_variables" not in frames["names_in_a_frame"]
    source = frames["source_context"]
    lines = [*source["pre_context"], source["context_line"], *source["post_context"]]
    assert '    db_password = "[Filtered]"' in lines
    assert '    API_TOKEN: str = "[Filtered]"' in lines
    assert '    config["password"] = "[Filtered]"' in lines


def _innocent() -> list[str]:
    identifiers = [
        "user_id",
        "sort_key",
        "cache_key",
        "primary_key",
        "foreign_key",
        "partition_key",
        "compass",
        "bypass_cache",
        "mapping",
        "spinner",
        "author",
        "authority",
        "keyboard",
        "monkey",
        "turkey",
        "keys",
        "passenger",
        "pinned",
        "shipping_address",
        "otp_enabled_at",
        "pincode_lookup",
        "order_total",
        "created_at",
        "updated_at",
        "request_path",
        "response_status",
        "HTTPError",
        "ValueError",
        "KeyError",
        "get_user_by_id",
        "checkout_session_ended",
        "tokenizer_config",
        "secretary_name",
        "passport_country",
        "private_beta_flag",
        "public_key_fingerprint",
        "isPrivate",
        "maxRetries",
        "retryCount",
        "django.db.models",
        "flask.app",
        "starlette.routing",
        "posthog_exceptions._capture",
        "index.html",
        "app.bundle.js",
        "__init__",
        "__main__",
        "self",
        "cls",
        "args",
        "kwargs",
    ]
    uuids = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(25)]
    uuids += [str(uuid.uuid5(uuid.NAMESPACE_URL, f"x{n}")) for n in range(15)]
    shas = [hashlib.sha1(f"commit {n}".encode()).hexdigest() for n in range(30)]
    shas += [hashlib.sha256(f"blob {n}".encode()).hexdigest() for n in range(15)]
    shas += [hashlib.md5(f"file {n}".encode()).hexdigest() for n in range(15)]
    shas += [hashlib.sha1(f"upper {n}".encode()).hexdigest().upper() for n in range(5)]
    prose = [
        "password reset email sent",
        "the token expired, please log in again",
        "invalid api key format",
        "missing key: name",
        "Use --help for usage",
        "session closed by the server",
        "could not parse the secret santa list",
        "authentication required",
        "the private beta is full",
        "pin the dependency to a version",
        "pass the value as an argument",
        "cookie banner dismissed",
        "connection refused",
        "division by zero",
        "list index out of range",
        "'NoneType' object has no attribute 'id'",
        "expected 3 arguments, got 2",
        "order 42 could not be placed",
        "timeout after 30.0 seconds",
        "Error: file not found",
        "key error while reading the cache",
        "the signature of f() changed",
        "retrying in 5 s (attempt 2 of 3)",
        "user bob signed up at 12:30",
        "see https://docs.example.com/errors#timeout",
        "GET /api/items returned 500",
        "fetching https://example.com/page?page=2 failed",
        "ratio: 0.25",
        "db host=db.internal port=5432 user=app",
        "a basic sentence about high throughput",
    ]
    paths = [
        "/usr/lib/python3.11/site-packages/requests/sessions.py",
        "/home/app/src/app/views.py",
        "/Users/JohnDoe/Library/Caches/pip/wheels/ab/cd",
        "/var/log/nginx/access.log",
        "/srv/www/releases/20261201120000/current",
        "src/posthog_exceptions/_capture/frames.py",
        "tests/test_secrets.py",
        "./manage.py",
        "../shared/docs/wire-format.md",
        "/opt/venv/bin/python3.13",
        "C:/Users/me/project/app.py",
        "/tmp/pytest-of-root/pytest-1/test_spool0/spool",
        "/etc/ssl/certs/ca-certificates.crt",
        "/proc/self/status",
        "/app/node_modules/react-dom/cjs/react-dom.production.min.js",
        "app/templates/password_reset.html",
        "static/js/token-refresh.js",
        "/data/keys/README.md",
        "/srv/private/uploads/2026/12/01/report.pdf",
        "/home/user/.config/app/settings.toml",
    ]
    numbers = ["0", "42", "-1", "3.14159", "1e-9", "2026-12-01T12:00:00Z", "v1.2.3", "127.0.0.1"]
    return [*identifiers, *uuids, *shas, *prose, *paths, *numbers]


INNOCENT = _innocent()


def test_the_innocent_corpus_is_large_enough_and_distinct() -> None:
    assert len(INNOCENT) >= 200
    assert len(set(INNOCENT)) == len(INNOCENT)


@pytest.mark.parametrize("text", INNOCENT)
def test_innocent_strings_are_never_masked(text: str) -> None:
    scrubber = Scrubber()
    assert scrubber.scrub_text(text) == text
    assert scrubber.scrub_message(text) == text


def test_innocent_strings_arrive_unchanged_in_messages_and_variables() -> None:
    from posthog_exceptions import Client
    from posthog_exceptions.testing import MemoryTransport

    transport = MemoryTransport()
    client = Client(
        "phc_test", transport=transport, sync_mode=True, capture_locals=True, rate_limit=False
    )
    for text in INNOCENT:
        try:
            value = text
            raise ValueError(value)
        except ValueError:
            client.capture_exception()
    assert len(transport.events) == len(INNOCENT)
    for text, event in zip(INNOCENT, transport.events):
        entry = event["properties"]["$exception_list"][0]
        assert entry["value"] == text
        assert entry["stacktrace"]["frames"][-1]["code_variables"]["value"] == text
    assert MASK not in json.dumps(transport.events)


def _capture_one(exc: BaseException, **options: object) -> dict[str, object]:
    from posthog_exceptions import Client
    from posthog_exceptions.testing import MemoryTransport

    transport = MemoryTransport()
    client = Client("phc_test", transport=transport, sync_mode=True, **options)  # type: ignore[arg-type]
    try:
        raise exc
    except type(exc):
        client.capture_exception(properties={"detail": str(exc)})
    (event,) = transport.events
    return event


def test_scrub_patterns_mask_a_match_or_its_secret_group() -> None:
    event = _capture_one(
        ValueError("ticket ACME-12345678 for ref=abc123 by bob"),
        scrub_patterns=[r"ACME-\d{8}", r"ref=(?P<secret>\w+)"],
    )
    props = event["properties"]
    assert isinstance(props, dict)
    assert props["$exception_list"][0]["value"] == "ticket [Filtered] for ref=[Filtered] by bob"
    assert props["detail"] == "ticket [Filtered] for ref=[Filtered] by bob"


def test_scrub_messages_false_sends_messages_as_they_are() -> None:
    text = "request failed: token=abc123"
    event = _capture_one(RuntimeError(text), scrub_messages=False)
    props = event["properties"]
    assert isinstance(props, dict)
    assert props["$exception_list"][0]["value"] == text
    assert props["detail"] == "request failed: token=[Filtered]"  # only messages are raw


@pytest.mark.parametrize(
    ("value", "error"),
    [("(", ValueError), ([1], TypeError), ("x*", ValueError), ([b"x"], TypeError)],
)
def test_bad_scrub_patterns_raise_at_init_naming_the_option(value: object, error: type) -> None:
    from posthog_exceptions import Client

    with pytest.raises(error, match="scrub_patterns"):
        Client("phc_test", scrub_patterns=value)
