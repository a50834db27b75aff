"""The wire-format validator: a known-good event passes, and each rule catches its mutation."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, Union

import pytest

from posthog_exceptions import Client
from posthog_exceptions.testing import MemoryTransport

from .wire_validator import (
    FRAME_PLATFORMS,
    MAX_CONTEXT_LINE,
    SERVER_OWNED_PROPERTIES,
    WireFormatError,
    exceptions_of,
    problems_in_body,
    problems_in_event,
    validate_batch_body,
    validate_event,
)

Event = dict[str, Any]
Mutation = Callable[[Event], None]
Step = Union[str, int]

EXC = ("properties", "$exception_list")
PY_FRAME = (*EXC, 0, "stacktrace", "frames", 1)  # a "python" frame
CUSTOM_FRAME = (*EXC, 1, "stacktrace", "frames", 0)  # a "custom" frame
PY_FRAME_PATH = "$.properties.$exception_list[0].stacktrace.frames[1]"
CUSTOM_FRAME_PATH = "$.properties.$exception_list[1].stacktrace.frames[0]"
EXC0 = "$.properties.$exception_list[0]"
EXC1 = "$.properties.$exception_list[1]"


def good_event() -> Event:
    """A hand-built valid ``$exception`` event: a ValueError raised while handling a
    KeyError whose stack is reported with ``custom`` frames."""
    return {
        "event": "$exception",
        "distinct_id": "user-42",
        "uuid": "0192f4c8-7b3a-7c1d-9e2f-3a4b5c6d7e8f",
        "timestamp": "2026-11-27T10:00:00.000000+00:00",
        "properties": {
            "$exception_list": [
                {
                    "type": "ValueError",
                    "value": "bad amount: -3",
                    "module": "myapp.errors",
                    "thread_id": 1,
                    "mechanism": {
                        "type": "generic",
                        "handled": True,
                        "synthetic": False,
                        "exception_id": 0,
                    },
                    "stacktrace": {
                        "type": "raw",
                        "frames": [
                            {
                                "platform": "python",
                                "filename": "myapp/__main__.py",
                                "abs_path": "/srv/app/myapp/__main__.py",
                                "module": "myapp.__main__",
                                "function": "<module>",
                                "lineno": 3,
                                "in_app": True,
                            },
                            {
                                "platform": "python",
                                "filename": "myapp/billing.py",
                                "abs_path": "/srv/app/myapp/billing.py",
                                "module": "myapp.billing",
                                "function": "charge",
                                "lineno": 42,
                                "colno": 8,
                                "context_line": "    raise ValueError(f'bad amount: {amount}')",
                                "pre_context": ["def charge(amount):", "    if amount < 0:"],
                                "post_context": ["", "def refund(amount):"],
                                "in_app": True,
                                "synthetic": False,
                                "code_variables": {"amount": -3, "rates": [1.5, None, "x"]},
                            },
                        ],
                    },
                },
                {
                    "type": "KeyError",
                    "value": "'eur'",
                    "mechanism": {
                        "type": "chained",
                        "source": "context",
                        "handled": True,
                        "exception_id": 1,
                        "parent_id": 0,
                    },
                    "stacktrace": {
                        "type": "raw",
                        "frames": [
                            {
                                "platform": "custom",
                                "lang": "python",
                                "function": "rate_for",
                                "filename": "myapp/rates.py",
                                "module": "myapp.rates",
                                "lineno": 7,
                                "colno": 4,
                                "context_line": "    return RATES[currency]",
                                "pre_context": ["def rate_for(currency):"],
                                "post_context": [],
                                "resolved": True,
                                "in_app": False,
                            }
                        ],
                    },
                },
            ],
            "$exception_fingerprint": "0123456789abcdef0123456789abcdef",
            "$exception_level": "error",
            "$exception_source": "python.decorator",
            "$issue_name": "ValueError in charge",
            "$issue_description": "bad amount",
            "$lib": "posthog-exceptions",
            "$lib_version": "0.1.0",
            "$geoip_disable": True,
            "$release_id": "2c0f-release",
            "$python_runtime": "CPython",
            "$python_version": "3.12.1",
            "$os": "Linux",
            "$os_version": "12",
            "$session_id": "0190b0d6-5a4e-7d3c-9f1b-2a6c4e8d0f12",
            "$window_id": "0190b0d6-5a4e-7d3c-9f1b-2a6c4e8d0f13",
        },
    }


def good_body() -> Event:
    return {
        "api_key": "phc_testkey",
        "batch": [
            good_event(),
            {"event": "signed_up", "distinct_id": "u1", "properties": {"plan": "pro"}},
        ],
        "sent_at": "2026-11-27T10:00:01.000000+00:00",
    }


# --------------------------------------------------------------------------- mutations


def _parent(event: Event, steps: tuple[Step, ...]) -> Any:
    target: Any = event
    for step in steps[:-1]:
        target = target[step]
    return target


def set_(*steps: Step, value: object) -> Mutation:
    def mutate(event: Event) -> None:
        _parent(event, steps)[steps[-1]] = value

    return mutate


def del_(*steps: Step) -> Mutation:
    def mutate(event: Event) -> None:
        del _parent(event, steps)[steps[-1]]

    return mutate


def append_(*steps: Step, value: object) -> Mutation:
    def mutate(event: Event) -> None:
        _parent(event, steps)[steps[-1]].append(value)

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(event: Event) -> None:
        for mutation in mutations:
            mutation(event)

    return mutate


def case(mutation: Mutation, path: str, reason: str, *, id: str) -> Any:
    return pytest.param(mutation, path, reason, id=id)


MUTATIONS = [
    # -- any event (§1)
    case(del_("event"), "$.event", "required", id="event-missing"),
    case(set_("event", value=""), "$.event", "non-empty", id="event-empty"),
    case(set_("event", value=3), "$.event", "must be a string", id="event-int"),
    case(del_("distinct_id"), "$.distinct_id", "required", id="distinct_id-missing"),
    case(set_("distinct_id", value=None), "$.distinct_id", "required", id="distinct_id-null"),
    case(set_("distinct_id", value=""), "$.distinct_id", "non-empty", id="distinct_id-empty"),
    case(set_("distinct_id", value="  "), "$.distinct_id", "non-empty", id="distinct_id-blank"),
    case(set_("distinct_id", value=42), "$.distinct_id", "non-empty string", id="distinct_id-int"),
    case(set_("distinct_id", value="u" * 201), "$.distinct_id", "truncated", id="distinct_id-long"),
    case(
        both(del_("distinct_id"), set_("properties", "distinct_id", value="")),
        "$.properties.distinct_id",
        "non-empty",
        id="distinct_id-in-properties-empty",
    ),
    case(set_("uuid", value="not-a-uuid"), "$.uuid", "UUID", id="uuid-garbage"),
    case(set_("uuid", value=12345), "$.uuid", "UUID", id="uuid-int"),
    case(
        set_("uuid", value="0192f4c87b3a7c1d9e2f3a4b5c6d7e8f"),
        "$.uuid",
        "UUID",
        id="uuid-not-hyphenated",
    ),
    case(set_("timestamp", value="yesterday"), "$.timestamp", "ISO-8601", id="timestamp-garbage"),
    case(
        set_("timestamp", value="2026-02-30T10:00:00Z"),
        "$.timestamp",
        "ISO-8601",
        id="timestamp-feb-30",
    ),
    case(set_("timestamp", value=1764237600), "$.timestamp", "ISO-8601", id="timestamp-number"),
    case(set_("properties", value=[]), "$.properties", "must be an object", id="properties-list"),
    case(
        set_("properties", "x", value=float("nan")),
        "$.properties.x",
        "not allowed in JSON",
        id="nan",
    ),
    case(
        set_("properties", "x", value=float("inf")),
        "$.properties.x",
        "not allowed in JSON",
        id="infinity",
    ),
    case(
        set_("properties", "x", value="a\ud800b"),
        "$.properties.x",
        "lone surrogate",
        id="lone-surrogate",
    ),
    case(
        set_("properties", "x", value=object()),
        "$.properties.x",
        "not JSON-serialisable",
        id="not-serialisable",
    ),
    case(
        set_("properties", "x", value={1: "one"}),
        '$.properties.x["1"]',
        "key must be a string",
        id="non-string-key",
    ),
    case(set_("properties", "x", value="x" * 1_000_000), "$", "below 1000000", id="event-too-big"),
    # -- $exception properties (§3)
    *[
        case(
            set_("properties", key, value=["x"]),
            f"$.properties.{key}",
            "owned by the server",
            id=f"server-owned-{key}",
        )
        for key in SERVER_OWNED_PROPERTIES
    ],
    case(del_("properties"), "$.properties", "required", id="properties-missing"),
    case(del_(*EXC), "$.properties.$exception_list", "required", id="list-missing"),
    case(
        set_(*EXC, value=[]), "$.properties.$exception_list", "must not be empty", id="list-empty"
    ),
    case(set_(*EXC, value={}), "$.properties.$exception_list", "must be a list", id="list-dict"),
    case(
        set_(*EXC, 1, value="KeyError"),
        EXC1,
        "must be an object",
        id="list-entry-not-object",
    ),
    case(
        set_("properties", "$exception_fingerprint", value=["a", "b"]),
        "$.properties.$exception_fingerprint",
        "must be a string",
        id="fingerprint-list",
    ),
    case(
        set_("properties", "$exception_fingerprint", value=123),
        "$.properties.$exception_fingerprint",
        "must be a string",
        id="fingerprint-number",
    ),
    case(
        set_("properties", "$exception_fingerprint", value="0123456789ABCDEF0123456789ABCDEF"),
        "$.properties.$exception_fingerprint",
        "32 lowercase hex",
        id="fingerprint-uppercase",
    ),
    case(
        set_("properties", "$exception_fingerprint", value="f" * 64),
        "$.properties.$exception_fingerprint",
        "32 lowercase hex",
        id="fingerprint-sha256",
    ),
    case(
        set_("properties", "$exception_level", value="critical"),
        "$.properties.$exception_level",
        "must be one of fatal, error, warning, log, info, debug",
        id="level-unknown",
    ),
    case(
        set_("properties", "$exception_level", value="ERROR"),
        "$.properties.$exception_level",
        "must be one of",
        id="level-uppercase",
    ),
    case(
        both(
            del_("properties", "$exception_fingerprint"),
            set_("properties", "$exception_client_fingerprint", value="abc"),
        ),
        "$.properties.$exception_client_fingerprint",
        "32 lowercase hex",
        id="client-fingerprint-short",
    ),
    case(
        set_("properties", "$exception_client_fingerprint", value="0" * 32),
        "$.properties.$exception_client_fingerprint",
        "only without",
        id="client-fingerprint-beside-fingerprint",
    ),
    case(
        set_("properties", "$geoip_disable", value="true"),
        "$.properties.$geoip_disable",
        "must be a bool",
        id="geoip-disable-string",
    ),
    case(
        set_("properties", "$release_id", value=""),
        "$.properties.$release_id",
        "non-empty",
        id="release-id-empty",
    ),
    case(
        set_("properties", "$release_id", value=" r1"),
        "$.properties.$release_id",
        "trimmed",
        id="release-id-untrimmed",
    ),
    case(
        set_("properties", "$python_version", value="3.12"),
        "$.properties.$python_version",
        "X.Y.Z",
        id="python-version-short",
    ),
    case(
        set_("properties", "$os", value=None),
        "$.properties.$os",
        "must be a string",
        id="os-none",
    ),
    case(
        set_("properties", "$session_id", value="abc\r\nSet-Cookie: x"),
        "$.properties.$session_id",
        "control characters",
        id="session-id-control",
    ),
    case(
        set_("properties", "$session_id", value="s" * 1001),
        "$.properties.$session_id",
        "at most 1000",
        id="session-id-long",
    ),
    case(
        set_("properties", "$window_id", value=""),
        "$.properties.$window_id",
        "non-empty",
        id="window-id-empty",
    ),
    case(
        set_("properties", "$exception_source", value=["python"]),
        "$.properties.$exception_source",
        "must be a string",
        id="source-list",
    ),
    case(
        set_("properties", "$issue_name", value="é" * 128),
        "$.properties.$issue_name",
        "256 UTF-8 bytes",
        id="issue-name-long",
    ),
    case(
        set_("properties", "$issue_description", value="x" * 256),
        "$.properties.$issue_description",
        "at most 255",
        id="issue-description-long",
    ),
    case(
        set_("properties", "$issue_name", value=None),
        "$.properties.$issue_name",
        "must be a string",
        id="issue-name-null",
    ),
    case(del_("properties", "$lib"), "$.properties.$lib", "required", id="lib-missing"),
    case(
        set_("properties", "$lib", value=1), "$.properties.$lib", "must be a string", id="lib-int"
    ),
    case(
        set_("properties", "$lib", value="posthog-python"),
        "$.properties.$lib",
        "reverse",
        id="lib-posthog-python",
    ),
    # -- exception objects (§3 Exception object)
    case(del_(*EXC, 0, "type"), f"{EXC0}.type", "required", id="type-missing"),
    case(set_(*EXC, 0, "type", value=""), f"{EXC0}.type", "non-empty", id="type-empty"),
    case(set_(*EXC, 0, "type", value=None), f"{EXC0}.type", "must be a string", id="type-null"),
    case(set_(*EXC, 0, "type", value="E" * 256), f"{EXC0}.type", "at most 255", id="type-long"),
    case(set_(*EXC, 0, "value", value=3), f"{EXC0}.value", "must be a string", id="value-int"),
    case(
        set_(*EXC, 0, "module", value=None), f"{EXC0}.module", "must be a string", id="module-null"
    ),
    case(
        set_(*EXC, 0, "thread_id", value=140_245_123_456_789),
        f"{EXC0}.thread_id",
        "-2147483648..2147483647",
        id="thread_id-get_ident",
    ),
    case(
        set_(*EXC, 0, "thread_id", value="1"),
        f"{EXC0}.thread_id",
        "must be an int",
        id="thread_id-string",
    ),
    case(
        set_(*EXC, 0, "thread_id", value=True),
        f"{EXC0}.thread_id",
        "must be an int",
        id="thread_id-bool",
    ),
    case(
        set_(*EXC, 0, "stacktrace", value=[]),
        f"{EXC0}.stacktrace",
        "must be an object",
        id="stacktrace-list",
    ),
    case(
        set_(*EXC, 0, "stacktrace", "type", value="resolved"),
        f"{EXC0}.stacktrace.type",
        "must be 'raw'",
        id="stacktrace-type",
    ),
    case(
        del_(*EXC, 0, "stacktrace", "type"),
        f"{EXC0}.stacktrace.type",
        "must be 'raw'",
        id="stacktrace-type-missing",
    ),
    case(
        set_(*EXC, 0, "stacktrace", "frames", value=[]),
        f"{EXC0}.stacktrace.frames",
        "must not be empty",
        id="frames-empty",
    ),
    case(
        del_(*EXC, 0, "stacktrace", "frames"),
        f"{EXC0}.stacktrace.frames",
        "must be a list",
        id="frames-missing",
    ),
    case(
        set_(*EXC, 0, "stacktrace", "frames", 0, value="frame"),
        f"{EXC0}.stacktrace.frames[0]",
        "must be an object",
        id="frame-not-object",
    ),
    # -- mechanism (§3 mechanism)
    case(
        set_(*EXC, 0, "mechanism", value="generic"),
        f"{EXC0}.mechanism",
        "must be an object",
        id="mechanism-string",
    ),
    case(
        del_(*EXC, 0, "mechanism", "type"),
        f"{EXC0}.mechanism.type",
        "required",
        id="mech-type-missing",
    ),
    case(
        set_(*EXC, 0, "mechanism", "type", value=1),
        f"{EXC0}.mechanism.type",
        "must be a string",
        id="mech-type-int",
    ),
    case(
        set_(*EXC, 0, "mechanism", "handled", value="yes"),
        f"{EXC0}.mechanism.handled",
        "must be a bool",
        id="mech-handled-string",
    ),
    case(
        set_(*EXC, 0, "mechanism", "handled", value=None),
        f"{EXC0}.mechanism.handled",
        "must be a bool",
        id="mech-handled-null",
    ),
    case(
        set_(*EXC, 0, "mechanism", "synthetic", value=0),
        f"{EXC0}.mechanism.synthetic",
        "must be a bool",
        id="mech-synthetic-int",
    ),
    case(
        set_(*EXC, 1, "mechanism", "source", value="__cause__"),
        f"{EXC1}.mechanism.source",
        "must be one of cause, context, member",
        id="mech-source-unknown",
    ),
    case(
        set_(*EXC, 0, "mechanism", "exception_id", value="0"),
        f"{EXC0}.mechanism.exception_id",
        "non-negative int",
        id="mech-exception_id-string",
    ),
    case(
        set_(*EXC, 1, "mechanism", "parent_id", value=-1),
        f"{EXC1}.mechanism.parent_id",
        "non-negative int",
        id="mech-parent_id-negative",
    ),
    case(
        set_(*EXC, 0, "mechanism", "type", value="chained"),
        f"{EXC0}.mechanism.type",
        "'chained' is for nested entries",
        id="outermost-chained",
    ),
    case(
        set_(*EXC, 0, "mechanism", "source", value="cause"),
        f"{EXC0}.mechanism.source",
        "absent on the outermost",
        id="outermost-source",
    ),
    case(
        both(
            set_(*EXC, 0, "mechanism", "exception_id", value=5),
            set_(*EXC, 1, "mechanism", "parent_id", value=5),
        ),
        f"{EXC0}.mechanism.exception_id",
        "must be 0",
        id="outermost-id-not-0",
    ),
    case(
        set_(*EXC, 0, "mechanism", "parent_id", value=0),
        f"{EXC0}.mechanism.parent_id",
        "absent on the outermost",
        id="outermost-parent",
    ),
    case(
        set_(*EXC, 1, "mechanism", "type", value="generic"),
        f"{EXC1}.mechanism.type",
        "must be 'chained'",
        id="nested-not-chained",
    ),
    case(
        del_(*EXC, 1, "mechanism", "source"),
        f"{EXC1}.mechanism.source",
        "required on nested entries",
        id="nested-no-source",
    ),
    case(
        del_(*EXC, 1, "mechanism"),
        f"{EXC1}.mechanism",
        "required on nested entries",
        id="nested-no-mechanism",
    ),
    case(
        set_(*EXC, 1, "mechanism", "exception_id", value=0),
        f"{EXC1}.mechanism.exception_id",
        "already used",
        id="nested-duplicate-id",
    ),
    case(
        set_(*EXC, 1, "mechanism", "parent_id", value=7),
        f"{EXC1}.mechanism.parent_id",
        "not the exception_id of an earlier entry",
        id="nested-dangling-parent",
    ),
    # -- frames: platform (§3 Stack frames)
    case(
        del_(*PY_FRAME, "platform"),
        f"{PY_FRAME_PATH}.platform",
        "must be one of python, custom",
        id="platform-missing",
    ),
    case(
        set_(*PY_FRAME, "platform", value="node"),
        f"{PY_FRAME_PATH}.platform",
        "must be one of python, custom",
        id="platform-unknown",
    ),
    # -- "python" frames
    case(
        del_(*PY_FRAME, "filename"),
        f"{PY_FRAME_PATH}.filename",
        "required",
        id="py-filename-missing",
    ),
    case(
        set_(*PY_FRAME, "filename", value=None),
        f"{PY_FRAME_PATH}.filename",
        "must be a string",
        id="py-filename-null",
    ),
    case(
        set_(*PY_FRAME, "filename", value=""),
        f"{PY_FRAME_PATH}.filename",
        "non-empty",
        id="py-filename-empty",
    ),
    case(
        set_(*PY_FRAME, "filename", value="/srv/app/myapp/billing.py"),
        f"{PY_FRAME_PATH}.filename",
        "deploy-independent",
        id="py-filename-absolute",
    ),
    case(
        set_(*PY_FRAME, "filename", value="C:\\app\\myapp\\billing.py"),
        f"{PY_FRAME_PATH}.filename",
        "deploy-independent",
        id="py-filename-windows-absolute",
    ),
    case(
        del_(*PY_FRAME, "function"),
        f"{PY_FRAME_PATH}.function",
        "required",
        id="py-function-missing",
    ),
    case(
        set_(*PY_FRAME, "function", value=None),
        f"{PY_FRAME_PATH}.function",
        "must be a string",
        id="py-function-null",
    ),
    case(
        set_(*PY_FRAME, "function", value=""),
        f"{PY_FRAME_PATH}.function",
        "non-empty",
        id="py-function-empty",
    ),
    case(
        set_(*PY_FRAME, "abs_path", value=None),
        f"{PY_FRAME_PATH}.abs_path",
        "must be a string",
        id="py-abs_path-null",
    ),
    case(
        set_(*PY_FRAME, "module", value=1),
        f"{PY_FRAME_PATH}.module",
        "must be a string",
        id="py-module-int",
    ),
    case(
        set_(*PY_FRAME, "context_line", value=None),
        f"{PY_FRAME_PATH}.context_line",
        "must be a string",
        id="py-context_line-null",
    ),
    case(
        set_(*PY_FRAME, "context_line", value="x" * (MAX_CONTEXT_LINE + 1)),
        f"{PY_FRAME_PATH}.context_line",
        "at most 1024",
        id="py-context_line-long",
    ),
    case(
        set_(*PY_FRAME, "lineno", value=-1),
        f"{PY_FRAME_PATH}.lineno",
        "0..4294967295",
        id="py-lineno-negative",
    ),
    case(
        set_(*PY_FRAME, "lineno", value=2**32),
        f"{PY_FRAME_PATH}.lineno",
        "0..4294967295",
        id="py-lineno-u32-overflow",
    ),
    case(
        set_(*PY_FRAME, "lineno", value="42"),
        f"{PY_FRAME_PATH}.lineno",
        "must be an int",
        id="py-lineno-string",
    ),
    case(
        set_(*PY_FRAME, "lineno", value=4.0),
        f"{PY_FRAME_PATH}.lineno",
        "must be an int",
        id="py-lineno-float",
    ),
    case(
        set_(*PY_FRAME, "lineno", value=None),
        f"{PY_FRAME_PATH}.lineno",
        "must be an int",
        id="py-lineno-null",
    ),
    case(
        set_(*PY_FRAME, "colno", value=-1),
        f"{PY_FRAME_PATH}.colno",
        "must be an int",
        id="py-colno-negative",
    ),
    case(
        set_(*PY_FRAME, "pre_context", value="def charge(amount):"),
        f"{PY_FRAME_PATH}.pre_context",
        "list of strings",
        id="py-pre_context-string",
    ),
    case(
        set_(*PY_FRAME, "pre_context", 0, value=None),
        f"{PY_FRAME_PATH}.pre_context[0]",
        "must be a string, got null",
        id="py-pre_context-null-line",
    ),
    case(
        set_(*PY_FRAME, "post_context", 1, value=b"x"),
        f"{PY_FRAME_PATH}.post_context[1]",
        "must be a string",
        id="py-post_context-bytes-line",
    ),
    case(
        append_(*PY_FRAME, "post_context", value="y" * (MAX_CONTEXT_LINE + 1)),
        f"{PY_FRAME_PATH}.post_context[2]",
        "at most 1024",
        id="py-post_context-long-line",
    ),
    case(del_(*PY_FRAME, "in_app"), f"{PY_FRAME_PATH}.in_app", "required", id="py-in_app-missing"),
    case(
        set_(*PY_FRAME, "in_app", value=None),
        f"{PY_FRAME_PATH}.in_app",
        "must be a bool",
        id="py-in_app-null",
    ),
    case(
        set_(*PY_FRAME, "in_app", value=1),
        f"{PY_FRAME_PATH}.in_app",
        "must be a bool",
        id="py-in_app-int",
    ),
    case(
        set_(*PY_FRAME, "code_variables", value=[["amount", -3]]),
        f"{PY_FRAME_PATH}.code_variables",
        "must be an object",
        id="py-code_variables-list",
    ),
    case(
        set_(*PY_FRAME, "code_variables", "ratio", value=float("nan")),
        f"{PY_FRAME_PATH}.code_variables.ratio",
        "not allowed in JSON",
        id="py-code_variables-nan",
    ),
    case(
        set_(*PY_FRAME, "code_variables", "conn", value=object()),
        f"{PY_FRAME_PATH}.code_variables.conn",
        "not JSON-serialisable",
        id="py-code_variables-object",
    ),
    case(
        set_(*PY_FRAME, "synthetic", value="no"),
        f"{PY_FRAME_PATH}.synthetic",
        "must be a bool",
        id="py-synthetic-string",
    ),
    # -- "custom" frames
    case(
        del_(*CUSTOM_FRAME, "lang"),
        f"{CUSTOM_FRAME_PATH}.lang",
        "required",
        id="custom-lang-missing",
    ),
    case(
        set_(*CUSTOM_FRAME, "lang", value=""),
        f"{CUSTOM_FRAME_PATH}.lang",
        "non-empty",
        id="custom-lang-empty",
    ),
    case(
        del_(*CUSTOM_FRAME, "function"),
        f"{CUSTOM_FRAME_PATH}.function",
        "required",
        id="custom-function-missing",
    ),
    case(
        set_(*CUSTOM_FRAME, "function", value=None),
        f"{CUSTOM_FRAME_PATH}.function",
        "must be a string",
        id="custom-function-null",
    ),
    case(
        set_(*CUSTOM_FRAME, "resolved", value="false"),
        f"{CUSTOM_FRAME_PATH}.resolved",
        "must be a bool",
        id="custom-resolved-string",
    ),
    case(
        del_(*CUSTOM_FRAME, "in_app"),
        f"{CUSTOM_FRAME_PATH}.in_app",
        "required",
        id="custom-in_app-missing",
    ),
    case(
        set_(*CUSTOM_FRAME, "in_app", value="yes"),
        f"{CUSTOM_FRAME_PATH}.in_app",
        "must be a bool",
        id="custom-in_app-string",
    ),
    case(
        set_(*CUSTOM_FRAME, "filename", value=None),
        f"{CUSTOM_FRAME_PATH}.filename",
        "must be a string",
        id="custom-filename-null",
    ),
    case(
        set_(*CUSTOM_FRAME, "module", value=3),
        f"{CUSTOM_FRAME_PATH}.module",
        "must be a string",
        id="custom-module-int",
    ),
    case(
        set_(*CUSTOM_FRAME, "lineno", value="7"),
        f"{CUSTOM_FRAME_PATH}.lineno",
        "must be an int",
        id="custom-lineno-string",
    ),
    case(
        set_(*CUSTOM_FRAME, "colno", value=-4),
        f"{CUSTOM_FRAME_PATH}.colno",
        "must be an int",
        id="custom-colno-negative",
    ),
    case(
        set_(*CUSTOM_FRAME, "pre_context", value=[f"line {i}" for i in range(11)]),
        f"{CUSTOM_FRAME_PATH}.pre_context",
        "at most 10",
        id="custom-pre_context-11-lines",
    ),
    case(
        set_(*CUSTOM_FRAME, "post_context", value=[None]),
        f"{CUSTOM_FRAME_PATH}.post_context[0]",
        "must be a string",
        id="custom-post_context-null-line",
    ),
    case(
        set_(*CUSTOM_FRAME, "code_variables", value={"currency": "eur"}),
        f"{CUSTOM_FRAME_PATH}.code_variables",
        "must be absent",
        id="custom-code_variables",
    ),
]


# --------------------------------------------------------------------------- tests


def test_the_good_event_is_valid() -> None:
    event = good_event()
    assert problems_in_event(event) == []
    validate_event(event)
    platforms = {
        frame["platform"] for exc in exceptions_of(event) for frame in exc["stacktrace"]["frames"]
    }
    assert platforms == set(FRAME_PLATFORMS)


def test_the_good_event_survives_a_json_round_trip() -> None:
    validate_event(json.loads(json.dumps(good_event())))


@pytest.mark.parametrize(("mutate", "path", "reason"), MUTATIONS)
def test_each_rule_reports_its_problem(mutate: Mutation, path: str, reason: str) -> None:
    event = good_event()
    mutate(event)
    problems = problems_in_event(event)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: "), problems
    assert reason in problems[0], problems
    with pytest.raises(WireFormatError) as caught:
        validate_event(event)
    assert caught.value.problems == problems
    assert problems[0] in str(caught.value)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-27T10:00:00.000000+00:00",
        "2026-11-27T10:00:00Z",
        "2026-11-27T10:00:00.123Z",
        "2026-11-27T10:00:00.123456789-05:30",
        "2026-11-27T10:00:00+0100",
        "2026-11-27T10:00:00",
    ],
)
def test_iso_8601_timestamps_are_accepted(timestamp: str) -> None:
    event = good_event()
    event["timestamp"] = timestamp
    assert problems_in_event(event) == []


@pytest.mark.parametrize(
    "timestamp",
    ["2026-11-27", "2026-11-27 10:00:00", "2026-11-27T25:00:00Z", "2026-11-27T10:00:00+25:00", ""],
)
def test_non_iso_8601_timestamps_are_refused(timestamp: str) -> None:
    event = good_event()
    event["timestamp"] = timestamp
    assert [p.split(":")[0] for p in problems_in_event(event)] == ["$.timestamp"]


def test_optional_fields_may_be_absent() -> None:
    event = good_event()
    for key in ("uuid", "timestamp"):
        del event[key]
    props = event["properties"]
    for key in (
        "$exception_fingerprint",
        "$exception_level",
        "$exception_source",
        "$issue_name",
        "$issue_description",
        "$lib_version",
    ):
        del props[key]
    first, second = props["$exception_list"]
    for key in ("value", "module", "thread_id", "mechanism", "stacktrace"):
        del first[key]
    for key in ("handled", "exception_id", "parent_id"):
        del second["mechanism"][key]
    custom = second["stacktrace"]["frames"][0]
    for key in ("filename", "module", "lineno", "colno", "context_line", "pre_context"):
        del custom[key]
    for key in ("post_context", "resolved"):
        del custom[key]
    second["stacktrace"]["frames"].append(
        {"platform": "python", "filename": "<string>", "function": "<module>", "in_app": False}
    )
    assert problems_in_event(event) == []


def test_distinct_id_may_be_in_properties() -> None:
    event = good_event()
    event["properties"]["distinct_id"] = event.pop("distinct_id")
    assert problems_in_event(event) == []


def test_limits_are_inclusive() -> None:
    event = good_event()
    event["distinct_id"] = "u" * 200
    props = event["properties"]
    props["$issue_name"] = "x" * 255
    first = props["$exception_list"][0]
    first["type"] = "E" * 255
    first["thread_id"] = -(2**31)
    frame = first["stacktrace"]["frames"][1]
    frame["lineno"] = 2**32 - 1
    frame["pre_context"] = ["x" * MAX_CONTEXT_LINE]
    custom = props["$exception_list"][1]["stacktrace"]["frames"][0]
    custom["pre_context"] = ["line"] * 10
    assert problems_in_event(event) == []


def test_the_exception_list_is_capped_at_50() -> None:
    event = good_event()
    entries = event["properties"]["$exception_list"]
    chained = entries[1]
    del chained["mechanism"]["exception_id"]
    del chained["mechanism"]["parent_id"]
    entries.extend(copy.deepcopy(chained) for _ in range(48))
    assert len(entries) == 50
    assert problems_in_event(event) == []
    entries.append(copy.deepcopy(chained))
    assert problems_in_event(event) == [
        "$.properties.$exception_list: 51 entries; at most 50 allowed"
    ]


def test_exception_rules_apply_only_to_exception_events() -> None:
    properties: Event = {key: "x" for key in SERVER_OWNED_PROPERTIES}
    properties["$lib"] = "posthog-python"
    event = {"event": "signed_up", "distinct_id": "u1", "properties": properties}
    assert problems_in_event(event) == []
    assert problems_in_event({"event": "ping", "distinct_id": "u1"}) == []


def test_a_non_object_event_is_one_problem() -> None:
    assert problems_in_event(["$exception"]) == [
        "$: an event must be an object, got list ['$exception']"
    ]


def test_every_problem_is_listed() -> None:
    event = good_event()
    del event["distinct_id"]
    props = event["properties"]
    props["$lib"] = "posthog-python"
    props["$exception_level"] = "critical"
    props["$exception_types"] = ["ValueError"]
    first, second = props["$exception_list"]
    first["thread_id"] = 2**40
    frame = first["stacktrace"]["frames"][1]
    frame["pre_context"][1] = None
    del frame["in_app"]
    second["mechanism"]["type"] = "generic"
    second["stacktrace"]["frames"][0]["code_variables"] = {}
    with pytest.raises(WireFormatError) as caught:
        validate_event(event)
    paths = [problem.split(": ")[0] for problem in caught.value.problems]
    assert paths == [
        "$.distinct_id",
        "$.properties.$exception_types",
        "$.properties.$exception_level",
        "$.properties.$lib",
        f"{EXC0}.thread_id",
        f"{PY_FRAME_PATH}.pre_context[1]",
        f"{PY_FRAME_PATH}.in_app",
        f"{EXC1}.mechanism.type",
        f"{CUSTOM_FRAME_PATH}.code_variables",
    ]
    message = str(caught.value)
    assert message.startswith("9 wire-format problems:\n")
    assert all(f"  - {problem}" in message for problem in caught.value.problems)
    assert isinstance(caught.value, AssertionError)


def test_cycles_and_deep_nesting_are_reported_not_crashed_on() -> None:
    event = good_event()
    loop: list[object] = []
    loop.append(loop)
    event["properties"]["loop"] = loop
    assert problems_in_event(event) == ["$.properties.loop[0]: circular reference"]

    event = good_event()
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    event["properties"]["deep"] = deep
    problems = problems_in_event(event)  # json on Python 3.13 encodes it; older ones cannot
    assert len(problems) <= 1
    assert all(p.startswith("$: not JSON-serialisable: RecursionError") for p in problems)


def test_odd_keys_are_quoted_in_paths() -> None:
    event = good_event()
    event["properties"]["a key"] = float("nan")
    assert problems_in_event(event) == ['$.properties["a key"]: nan is not allowed in JSON']


def test_exceptions_of() -> None:
    event = good_event()
    entries = exceptions_of(event)
    assert [entry["type"] for entry in entries] == ["ValueError", "KeyError"]
    assert entries == event["properties"]["$exception_list"]
    with pytest.raises(WireFormatError, match=r"\$\.properties\.\$exception_list: must be a list"):
        exceptions_of({"event": "$exception", "properties": {}})
    with pytest.raises(WireFormatError, match=r"\$\.properties: must be an object"):
        exceptions_of({"event": "$exception"})
    with pytest.raises(WireFormatError, match=r"\$: must be an object"):
        exceptions_of("$exception")
    with pytest.raises(WireFormatError, match=r"\$exception_list\[1\]: must be an object"):
        exceptions_of({"properties": {"$exception_list": [{}, None]}})


# --------------------------------------------------------------------------- batch bodies


def test_a_good_batch_body_is_valid() -> None:
    body = good_body()
    assert problems_in_body(body) == []
    validate_batch_body(body)
    del body["sent_at"]
    body["historical_migration"] = False
    validate_batch_body(body)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        pytest.param(del_("api_key"), "$.api_key: required", id="key-missing"),
        pytest.param(set_("api_key", value=None), "$.api_key: required", id="key-null"),
        pytest.param(set_("api_key", value="  "), "$.api_key: must not be empty", id="key-blank"),
        pytest.param(
            set_("api_key", value="phc_" + "x" * 61),
            "$.api_key: 65 characters; at most 64",
            id="key-long",
        ),
        pytest.param(
            set_("api_key", value="phc_clé"), "$.api_key: must be ASCII", id="key-non-ascii"
        ),
        pytest.param(
            set_("api_key", value="phc_a\x00b"), "$.api_key: must not contain NUL", id="key-nul"
        ),
        pytest.param(
            set_("api_key", value="phx_personal"),
            "$.api_key: a personal API key",
            id="key-personal",
        ),
        pytest.param(
            set_("sent_at", value="now"), "$.sent_at: must be an ISO-8601", id="sent_at-garbage"
        ),
        pytest.param(
            set_("sent_at", value=0), "$.sent_at: must be an ISO-8601", id="sent_at-number"
        ),
        pytest.param(
            set_("historical_migration", value=True),
            "$.historical_migration: must be false",
            id="historical-migration",
        ),
        pytest.param(del_("batch"), "$.batch: required", id="batch-missing"),
        pytest.param(set_("batch", value={}), "$.batch: must be a list", id="batch-dict"),
        pytest.param(set_("batch", value=[]), "$.batch: must not be empty", id="batch-empty"),
        pytest.param(
            set_("batch", 1, "distinct_id", value=""),
            "$.batch[1].distinct_id: must be a non-empty string",
            id="bad-plain-event",
        ),
        pytest.param(
            set_(
                "batch",
                0,
                "properties",
                "$exception_list",
                0,
                "stacktrace",
                "frames",
                0,
                "lineno",
                value=-1,
            ),
            "$.batch[0].properties.$exception_list[0].stacktrace.frames[0].lineno: must be an int",
            id="bad-exception-event",
        ),
        pytest.param(
            set_("batch", 1, value="event"),
            "$.batch[1]: an event must be an object",
            id="event-string",
        ),
        pytest.param(
            set_("batch", 1, "api_key", value="phc_other"),
            "$.batch[1].api_key: differs from the batch's api_key",
            id="mixed-keys",
        ),
    ],
)
def test_batch_body_rules(mutate: Mutation, problem: str) -> None:
    body = good_body()
    mutate(body)
    problems = problems_in_body(body)
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems
    with pytest.raises(WireFormatError) as caught:
        validate_batch_body(body)
    assert caught.value.problems == problems


def test_batch_body_must_be_an_object() -> None:
    with pytest.raises(WireFormatError, match=r"\$: a batch body must be an object"):
        validate_batch_body([good_event()])


def test_batch_body_lists_problems_of_every_event() -> None:
    body = good_body()
    body["api_key"] = "phx_personal"
    del body["batch"][0]["properties"]["$lib"]
    body["batch"][1]["timestamp"] = "soon"
    with pytest.raises(WireFormatError) as caught:
        validate_batch_body(body)
    assert [p.split(": ")[0] for p in caught.value.problems] == [
        "$.api_key",
        "$.batch[0].properties.$lib",
        "$.batch[1].timestamp",
    ]


def test_batch_body_reports_unserialisable_values_once() -> None:
    body = good_body()
    body["batch"][1]["properties"]["ratio"] = float("nan")
    body["sent_at"] = "2026-11-27T10:00:01Z\udc80"
    assert problems_in_body(body) == [
        "$.sent_at: must be an ISO-8601 string, got str '2026-11-27T10:00:01Z\\udc80'",
        "$.batch[1].properties.ratio: nan is not allowed in JSON",
    ]


def test_a_request_over_20_mb_is_refused() -> None:
    body = good_body()
    big = {"event": "blob", "distinct_id": "u1", "properties": {"x": "x" * 900_000}}
    body["batch"] = [big] * 23
    assert problems_in_body(body) == [
        f"$: compact JSON is {len(json.dumps(body, separators=(',', ':')))} bytes; "
        "a request must stay below 20000000"
    ]


def test_what_the_client_sends_is_valid() -> None:
    transport = MemoryTransport()
    client = Client("phc_testkey", transport=transport, sync_mode=True)
    try:
        client.capture("signed_up", distinct_id="u1", properties={"plan": "pro"})
        client.capture("paid", distinct_id="u1", timestamp="2026-01-01T00:00:00Z")
    finally:
        client.shutdown(timeout=2)
    assert transport.bodies
    for body in transport.bodies:
        validate_batch_body(body)
