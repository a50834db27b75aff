"""Never oversize: an ``$exception`` event above the size limit is made smaller step by
step — local variables, then context lines, then message lengths, then frames, then
chained exceptions — until it fits (wire-format §2 on 413)."""

from __future__ import annotations

from .detached import gap_marker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any


def shrink(properties: Mapping[str, Any]) -> Iterator[None]:
    """Make an ``$exception`` event smaller, one step per iteration (wire-format §2 on 413).

    ``$exception_list`` must be the event's own plain list (``ExceptionList.copy()``): the
    steps edit it in place."""
    exceptions: list[dict[str, Any]] = properties["$exception_list"]

    def without(*keys: str) -> None:
        for entry in exceptions:
            stack = entry.get("stacktrace")
            if stack:
                for frame in stack["frames"]:
                    for key in keys:
                        frame.pop(key, None)

    without("code_variables")
    yield
    without("pre_context", "post_context")
    yield
    for entry in exceptions:
        entry["value"] = entry["value"][:1000]
    without("context_line")
    yield
    for keep in (50, 20, 6):
        for entry in exceptions:
            stack = entry.get("stacktrace")
            if stack and len(stack["frames"]) > keep:
                head = keep // 3
                dropped = len(stack["frames"]) - keep
                marker = gap_marker(dropped, stack["frames"][0]["platform"] == "custom")
                stack["frames"] = [
                    *stack["frames"][:head],
                    marker,
                    *stack["frames"][-(keep - head) :],
                ]
        yield
    for keep in (10, 1):
        del exceptions[keep:]
        yield
