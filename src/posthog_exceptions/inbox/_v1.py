"""The capture v1 endpoint, ``POST /i/v1/analytics/events``.

posthog-python sends it under ``capture_mode="v1"``: the project key in
``Authorization: Bearer <key>``, the SDK in ``PostHog-Sdk-Info: name/version``, and a
body ``{"created_at", "batch": [{"event", "uuid", "distinct_id", "timestamp",
"session_id"?, "window_id"?, "options"?, "properties"?}], "historical_migration"?}``,
plain or with ``Content-Encoding: gzip`` / ``deflate``. The inbox requires those two
headers, validates each event as PostHog's v1 types do (a name, a uuid, a distinct
id, an ISO-8601 timestamp, properties that are an object; uuids unique in the batch)
and answers as PostHog's v1 endpoint does: ``200 {"results": {uuid: {"result":
"ok"}}}``, or an error as JSON ``{"error", "error_description"}`` with 400, 401, 413
or 415 (an unsupported ``Content-Encoding``). One bad event refuses the whole request
(PostHog may drop just that event); nothing is stored then.

An event is stored in the v0 shape the rest of the inbox reads: ``session_id`` and
``window_id`` become ``$session_id`` / ``$window_id`` properties, the SDK header
``$lib`` / ``$lib_version`` (PostHog's server injects them the same way), and
``options`` is kept as it came.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from ._decode import compression_of
from ._protocol import Event, Rejected, check_size, is_iso8601, is_uuid, project_key

V1_PATHS = frozenset({"/i/v1/analytics/events"})


def v1_token(headers: Mapping[str, str]) -> str:
    """The project key from ``Authorization: Bearer``; 400/401 when it is missing or bad."""
    missing = [name for name in ("authorization", "posthog-sdk-info") if not headers.get(name)]
    if missing:
        raise Rejected(
            400, f"request is missing required headers: {missing}", "missing_required_headers"
        )
    scheme, _, token = headers["authorization"].partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Rejected(400, "Authorization must use the Bearer scheme", "invalid_header_value")
    return project_key([token])


def v1_compression(headers: Mapping[str, str]) -> str | None:
    """``gzip``, ``deflate`` or ``None``; 415 for any other ``Content-Encoding``."""
    value = headers.get("content-encoding")
    try:
        compression = compression_of(value, "Content-Encoding")
    except Rejected:
        compression = "unsupported"
    if compression not in (None, "gzip", "deflate"):
        raise Rejected(415, f"unsupported content encoding: {value}", "unsupported_encoding")
    return compression


def _v1_event(index: int, raw: Any, sdk_info: str, seen: set[str]) -> Event:
    def bad(tag: str, what: str) -> Rejected:
        return Rejected(400, f"event {index}: {what}", tag)

    if not isinstance(raw, dict):
        raise bad("invalid_batch", "not a JSON object")
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise bad("missing_event_name", "event submitted without an event name")
    uuid = raw.get("uuid")
    if not isinstance(uuid, str) or not uuid.strip():
        raise bad("missing_event_uuid", "event submitted without a uuid")
    uuid = uuid.strip()
    if not is_uuid(uuid):
        raise bad("missing_event_uuid", f"invalid uuid: {uuid!r:.100}")
    if uuid in seen:
        raise bad("duplicate_event_uuid", f"duplicate event uuid: {uuid}")
    seen.add(uuid)
    distinct_id = raw.get("distinct_id")
    if not isinstance(distinct_id, str) or not distinct_id.strip():
        raise bad("missing_distinct_id", "event submitted without a distinct_id")
    timestamp = raw.get("timestamp")
    if not isinstance(timestamp, str) or not is_iso8601(timestamp):
        raise bad("invalid_event_timestamp", "event submitted with invalid timestamp")
    properties = raw.get("properties", {})
    if not isinstance(properties, dict):
        raise bad("malformed_event_properties", "event properties is not a JSON object")
    lib, _, version = sdk_info.partition("/")
    properties = {**properties, "$lib": lib, "$lib_version": version}
    for field in ("session_id", "window_id"):
        if isinstance(raw.get(field), str):
            properties[f"${field}"] = raw[field]
    event: Event = {
        "event": name,
        "uuid": uuid,
        "distinct_id": distinct_id.strip(),
        "timestamp": timestamp,
        "properties": properties,
    }
    if raw.get("options") is not None:
        event["options"] = raw["options"]
    return event


def v1_key(headers: Mapping[str, str], expected_key: str | None) -> str:
    """The request's project key, checked against the inbox's own when it has one."""
    key = v1_token(headers)
    if expected_key is not None and key != expected_key:
        raise Rejected(401, "project API key does not match this inbox", "invalid_api_token")
    return key


def parse_v1(payload: Any, headers: Mapping[str, str], *, max_event_bytes: int) -> list[Event]:
    """The events of a parsed v1 body, in the v0 shape, or :class:`Rejected`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
        problem = "invalid batch: expected an object with a 'batch' array"
        raise Rejected(400, problem, "invalid_batch")
    if not isinstance(payload.get("created_at"), str):
        raise Rejected(400, "invalid batch: 'created_at' must be a string", "invalid_batch")
    if not payload["batch"]:
        raise Rejected(400, "request batch is empty", "empty_batch")
    seen: set[str] = set()
    sdk_info = headers["posthog-sdk-info"]
    events = [_v1_event(i, raw, sdk_info, seen) for i, raw in enumerate(payload["batch"])]
    for event in events:
        check_size(event, max_event_bytes)
    return events


def v1_results(events: list[Event]) -> bytes:
    """The 200 body: every event ``ok``."""
    results = {event["uuid"]: {"result": "ok"} for event in events}
    return json.dumps({"results": results}).encode("utf-8")


def v1_error(rejected: Rejected) -> bytes:
    """An error body the way the v1 endpoint writes one."""
    body = {
        "error": rejected.tag,
        "error_description": rejected.message,
        "error_uri": "https://posthog.com/docs/api",
    }
    return json.dumps(body).encode("utf-8")
