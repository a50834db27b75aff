"""Stored events as the page's JSON API shows them: plain data, bounded, never markup.

Every value that came in an event is turned into text here (a string as it is, anything
else as its JSON), cut to a bounded length, and handed to the page as a JSON string,
which the page puts into the document with ``textContent`` only. Fields of the wrong
type are shown as absent or as their JSON, so no event can break the page or the API.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ._grouping import fingerprint_of
from ._tree import Node, build, entries_of, frames_of, mechanism

MAX_TEXT = 20_000
"""Characters of one field (a message, a source line, a variable) the API passes on."""
MAX_FRAMES = 200
MAX_CONTEXT = 50
"""Source lines shown above and below a frame's line, at most."""
MAX_VARIABLES = 200
MAX_RAW = 2_000_000
MAX_MEMBER_DEPTH = 10
REQUEST_KEYS = (
    "$current_url",
    "$request_method",
    "$request_path",
    "$request_route",
    "$request_query_keys",
    "$host",
    "$pathname",
    "$referrer",
    "$user_agent",
    "$ip",
)
SESSION_KEYS = ("$session_id", "$window_id")


def text(value: object, limit: int = MAX_TEXT) -> Optional[str]:
    """``value`` as bounded text: a string itself, ``None`` for null, else its JSON."""
    if value is None:
        return None
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, RecursionError):
            value = repr(value)
    if len(value) > limit:
        value = value[: limit - 1] + "\u2026"
    return value


def number(value: object) -> Optional[int]:
    """An integer field, else ``None`` (``True`` is not a line number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def flag(value: object) -> Optional[bool]:
    return value if isinstance(value, bool) else None


def pairs(mapping: dict[str, Any], keys: list[str]) -> list[list[Optional[str]]]:
    return [[text(key, 500), text(mapping[key])] for key in keys]


def exception_summary(properties: dict[str, Any]) -> tuple[str, str]:
    """``(type, message)`` of the first (outermost) exception."""
    entries = entries_of(properties)
    top = entries[0] if entries else {}
    return text(top.get("type"), 1000) or "<unknown type>", text(top.get("value"), 1000) or ""


def event_summary(row: dict[str, Any]) -> dict[str, Any]:
    """One line of the live list: names, ids, times and, for ``$exception``, its group."""
    props = row["properties"] if isinstance(row["properties"], dict) else {}
    summary: dict[str, Any] = {
        "id": row["id"],
        "uuid": text(row["uuid"], 200),
        "event": text(row["event"], 1000),
        "distinct_id": text(row["distinct_id"], 1000),
        "timestamp": text(row["timestamp"], 200),
        "received_at": row["received_at"],
        "summary": "",
        "fingerprint": None,
    }
    if row["event"] == "$exception":
        kind, message = exception_summary(props)
        summary["summary"] = f"{kind}: {message}" if message else kind
        summary["fingerprint"] = fingerprint_of(props)
    return summary


def event_detail(row: dict[str, Any]) -> dict[str, Any]:
    """Everything the issue page shows of one event (a store row with ``data``)."""
    props = row["properties"] if isinstance(row["properties"], dict) else {}
    data = row.get("data")
    data = data if isinstance(data, dict) else {}
    person = [key for key in ("$set", "$set_once") if key in data]
    shown = {"$exception_list", *REQUEST_KEYS, *SESSION_KEYS}
    root = build(entries_of(props))
    return {
        **event_summary(row),
        "level": text(props.get("$exception_level"), 200),
        "source": text(props.get("$exception_source"), 1000),
        "anonymous": props.get("$process_person_profile") is False,
        "session_id": text(props.get("$session_id"), 1000),
        "window_id": text(props.get("$window_id"), 1000),
        "request": pairs(props, [key for key in REQUEST_KEYS if key in props]),
        "tags": pairs(props, [key for key in props if not key.startswith("$")]),
        "context": pairs(props, [k for k in props if k.startswith("$") and k not in shown]),
        "person_updates": pairs(data, person),
        "exceptions": None if root is None else tree_view(root, 0),
        "raw": text(json.dumps(data, indent=2, ensure_ascii=False, default=str), MAX_RAW),
    }


def tree_view(node: Node, depth: int) -> dict[str, Any]:
    """The chain that ends at ``node`` (root cause first, as Python prints it), each link
    named, with every exception group's members nested under it (10 levels at most)."""
    chain = []
    for link, exception in node.chain():
        members = exception.members if depth < MAX_MEMBER_DEPTH else []
        chain.append(
            {
                "exception": exception_view(exception.entry),
                "link": link,
                "group": exception.is_group,
                "members": [tree_view(member, depth + 1) for member in members],
                "members_not_shown": len(exception.members) - len(members),
            }
        )
    return {"chain": chain}


def exception_view(entry: dict[str, Any]) -> dict[str, Any]:
    details = mechanism(entry)
    frames = frames_of(entry)
    shown = frames[-MAX_FRAMES:]  # the crash site's end of a very deep stack
    return {
        "type": text(entry.get("type"), 1000) or "<unknown type>",
        "value": text(entry.get("value")) or "",
        "module": text(entry.get("module"), 1000),
        "mechanism": {
            "type": text(details.get("type"), 200),
            "handled": flag(details.get("handled")),
            "source": text(details.get("source"), 200),
            "synthetic": flag(details.get("synthetic")),
            "exception_id": number(details.get("exception_id")),
            "parent_id": number(details.get("parent_id")),
            "is_exception_group": flag(details.get("is_exception_group")),
        },
        "frames": [frame_view(frame) for frame in shown],
        "frames_not_shown": len(frames) - len(shown),
    }


def frame_view(frame: dict[str, Any]) -> dict[str, Any]:
    """A frame with its source lines numbered (the frame's own line marked ``current``)
    and its local variables as ``[name, value]`` texts."""
    lineno = number(frame.get("lineno"))
    before = _lines(frame.get("pre_context"))
    if frame.get("platform") == "custom":  # there the first line is the one just above
        before.reverse()
    before = before[-MAX_CONTEXT:]
    after = _lines(frame.get("post_context"))[:MAX_CONTEXT]
    first = None if lineno is None else lineno - len(before)
    lines = [_line(first, index, line, False) for index, line in enumerate(before)]
    context_line = frame.get("context_line")
    if isinstance(context_line, str):
        lines.append({"no": lineno, "text": text(context_line, 2000), "current": True})
    start = None if lineno is None else lineno + 1
    lines += [_line(start, index, line, False) for index, line in enumerate(after)]
    variables = frame.get("code_variables")
    names = list(variables)[:MAX_VARIABLES] if isinstance(variables, dict) else []
    return {
        "filename": text(frame.get("filename"), 2000),
        "abs_path": text(frame.get("abs_path"), 2000),
        "module": text(frame.get("module"), 1000),
        "function": text(frame.get("function"), 1000),
        "lineno": lineno,
        "colno": number(frame.get("colno")),
        "in_app": frame.get("in_app") is not False,  # PostHog takes a missing value as true
        "lines": lines,
        "variables": [] if not names else pairs(variables, names),  # type: ignore[arg-type]
        "variables_not_shown": len(variables) - len(names) if isinstance(variables, dict) else 0,
    }


def _lines(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [text(line, 2000) or "" for line in value]


def _line(start: Optional[int], index: int, line: str, current: bool) -> dict[str, Any]:
    no = None if start is None or start + index < 1 else start + index
    return {"no": no, "text": line, "current": current}
