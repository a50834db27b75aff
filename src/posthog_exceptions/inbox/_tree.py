"""An ``$exception_list`` as the tree of exceptions it describes.

The list is flat: the exception that was caught first, then each exception it holds — its
cause or context (``mechanism.source`` ``"cause"``, ``"context"``) and, for an exception
group, its members (``"member"``) — each pointing at its holder by ``mechanism.parent_id``
(the holder's ``mechanism.exception_id``), as the cross-SDK contract says. :func:`build`
turns it back into that tree, for ``show`` to print it as Python does and for the page to
nest a group's members under it.

Lists without the ids (older SDKs, other languages) are read as a chain: each entry is the
cause or context of the one before it; a ``"member"`` entry then joins the nearest earlier
exception group. Whatever the ids say, an entry only ever hangs off an *earlier* entry, so
a hostile list cannot make a cycle, and every entry finds a place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

LINKS = ("cause", "context", "member")
MAX_ENTRIES = 200
"""Entries beyond this many are not shown (the library sends at most 50)."""


@dataclass
class Node:
    """One exception of the list and what it holds."""

    entry: dict[str, Any]
    link: Optional[str] = None
    """How it hangs off its holder (``"cause"``, ``"context"``, ``"member"``); ``None`` at top."""
    chained: Optional[Node] = None
    """Its cause or context: the exception Python prints above it."""
    members: list[Node] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        if self.members:
            return True
        flag = mechanism(self.entry).get("is_exception_group")
        return flag is True or (flag is None and str(self.entry.get("type")).endswith("Group"))

    def chain(self) -> list[tuple[Optional[str], Node]]:
        """``(link, node)`` from the root cause to this node, in the order Python prints
        them; ``link`` says how each node is held by the next (``None`` for the last)."""
        found: list[tuple[Optional[str], Node]] = []
        current: Optional[Node] = self
        while current is not None:
            found.append((current.link if current is not self else None, current))
            current = current.chained
        found.reverse()
        return found


def entries_of(properties: object) -> list[dict[str, Any]]:
    """The object entries of ``properties["$exception_list"]`` (others are skipped)."""
    if not isinstance(properties, dict):
        return []
    entries = properties.get("$exception_list")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def mechanism(entry: dict[str, Any]) -> dict[str, Any]:
    found = entry.get("mechanism")
    return found if isinstance(found, dict) else {}


def frames_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry's stack frames that are objects, oldest call first."""
    stack = entry.get("stacktrace")
    frames = stack.get("frames") if isinstance(stack, dict) else None
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []


def _identifier(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build(entries: list[dict[str, Any]]) -> Node | None:
    """The tree of ``entries`` (see the module's documentation); ``None`` when empty."""
    nodes: list[Node] = []
    by_id: dict[int, Node] = {}
    for entry in entries[:MAX_ENTRIES]:
        node = Node(entry)
        details = mechanism(entry)
        source = details.get("source")
        link = source if source in LINKS else "context"
        if nodes:
            parent = _identifier(details.get("parent_id"))
            holder = None if parent is None else by_id.get(parent)
            if holder is None and link == "member":
                holder = next((n for n in reversed(nodes) if n.is_group), None)
            if holder is not None and link == "member":
                node.link = "member"
                holder.members.append(node)
            else:
                node.link = link
                _append_to_chain(holder or nodes[-1], node)
        nodes.append(node)
        identifier = _identifier(details.get("exception_id"))
        if identifier is not None and identifier not in by_id:
            by_id[identifier] = node
    return nodes[0] if nodes else None


def _append_to_chain(holder: Node, node: Node) -> None:
    """``node`` becomes ``holder``'s cause or context, or, when it has one, the end of
    that chain's."""
    while holder.chained is not None:
        holder = holder.chained
    holder.chained = node
