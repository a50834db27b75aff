"""An ``$exception_list`` printed the way Python's :mod:`traceback` prints the exception.

Root cause first, each link said in Python's words; an exception group as CPython 3.11+
draws it: ``+ Exception Group Traceback``, then each member under a
``+-+---------------- 1 ----------------`` header, indented, its lines behind ``| ``, at
most 15 members (``and N more exceptions``) and 10 levels deep, as
``traceback.TracebackException`` does by default. The tree comes from
:mod:`._tree`; the text is made of event data, to be made visible
(:mod:`._terminal`) before it reaches a terminal.
"""

from __future__ import annotations

from typing import Any

from ._tree import Node, build, entries_of, frames_of

MAX_GROUP_WIDTH = 15
MAX_GROUP_DEPTH = 10
LINK_MESSAGES = {
    "cause": "The above exception was the direct cause of the following exception:",
    "context": "During handling of the above exception, another exception occurred:",
    "member": "The above exception is a member of the following exception group:",
}


class _Context:
    """CPython's ``_ExceptionPrintContext``: the group depth and whether to close a box."""

    def __init__(self) -> None:
        self.depth = 0
        self.need_close = False
        self.lines: list[str] = []

    def indent(self) -> str:
        return " " * (2 * self.depth)

    def emit(self, text: str, margin: str = "|") -> None:
        prefix = self.indent() + (f"{margin} " if self.depth else "")
        self.lines.extend(prefix + line for line in text.split("\n"))


def format_traceback(properties: dict[str, Any]) -> str:
    """The exception list as Python would print it: root cause first, groups as trees."""
    root = build(entries_of(properties))
    if root is None:
        return ""
    context = _Context()
    _format(root, context)
    return "\n".join(context.lines)


def _format(node: Node, context: _Context) -> None:
    for link, exception in node.chain():
        if not exception.is_group:
            stack = _stack(exception.entry)
            if stack:
                context.emit("Traceback (most recent call last):")
                context.emit(stack)
            context.emit(_exception_only(exception.entry))
        elif context.depth > MAX_GROUP_DEPTH:
            context.emit(f"... (max_group_depth is {MAX_GROUP_DEPTH})")
        else:
            _format_group(exception, context)
        if link is not None:
            context.emit(f"\n{LINK_MESSAGES[link]}\n")


def _format_group(group: Node, context: _Context) -> None:
    top = context.depth == 0
    if top:
        context.depth += 1
    stack = _stack(group.entry)
    if stack:
        context.emit("Exception Group Traceback (most recent call last):", "+" if top else "|")
        context.emit(stack)
    context.emit(_exception_only(group.entry))
    members = group.members
    shown = len(members) if len(members) <= MAX_GROUP_WIDTH else MAX_GROUP_WIDTH + 1
    context.need_close = False
    for index in range(shown):
        last = index == shown - 1
        if last:
            context.need_close = True  # a nested group may close the box instead
        truncated = index >= MAX_GROUP_WIDTH
        title = "..." if truncated else str(index + 1)
        corner = "+-" if index == 0 else "  "
        header = f"+---------------- {title} ----------------"
        context.lines.append(f"{context.indent()}{corner}{header}")
        context.depth += 1
        if truncated:
            more = len(members) - MAX_GROUP_WIDTH
            context.emit(f"and {more} more exception{'s' if more > 1 else ''}")
        else:
            _format(members[index], context)
        if last and context.need_close:
            context.lines.append(f"{context.indent()}+------------------------------------")
            context.need_close = False
        context.depth -= 1
    if top:
        context.depth = 0


def _stack(entry: dict[str, Any]) -> str:
    lines = []
    for frame in frames_of(entry):
        lines.append(
            f'  File "{frame.get("filename", "?")}", line {frame.get("lineno", "?")}, '
            f"in {frame.get('function', '?')}"
        )
        if frame.get("context_line"):
            lines.append(f"    {str(frame['context_line']).strip()}")
    return "\n".join(lines)


def _exception_only(entry: dict[str, Any]) -> str:
    kind = entry.get("type", "Exception")
    module = entry.get("module")
    name = f"{module}.{kind}" if module and module not in ("__main__", "builtins") else kind
    value = entry.get("value")
    return f"{name}: {value}" if value else str(name)
