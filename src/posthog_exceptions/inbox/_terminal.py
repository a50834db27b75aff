"""Text that came in an event, made safe to print on a terminal.

Anything a local process posts to the inbox, or any user input that ends up in an
exception message, reaches the CLI's output. Control characters (C0 but the newline of
multi-line output, DEL, C1), and the invisible format characters that reorder or hide
text (bidirectional overrides and isolates, zero-width characters, line and paragraph
separators, the byte-order mark), are printed as escapes — ``\\x1b``, ``\\u202e`` — so an
event can neither clear the screen nor colour, move or disguise what the developer reads.
"""

from __future__ import annotations

import json
import re

_FORMAT = "\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u2064\u2066-\u2069\ufeff"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_FORMAT}]")
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{_FORMAT}]")  # json.dumps escapes C0 itself


def visible(text: str, *, newlines: bool = False) -> str:
    """``text`` with every unsafe character escaped (newlines kept when ``newlines``)."""
    pattern = _UNSAFE_BUT_NEWLINE if newlines else _UNSAFE
    return pattern.sub(_escape, text)


def json_line(value: object) -> str:
    """``value`` as one line of JSON with nothing unsafe in it (still valid JSON)."""
    text = json.dumps(value, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
