"""A decoder for lz-string's ``compressToBase64`` output (what PostHog calls ``lz64``).

Old posthog-js releases send ``?compression=lz64`` bodies made by the JavaScript
lz-string library. Its format: a stream of bits read six to a base64 character,
most significant first; each token is a dictionary index whose width grows as the
dictionary does, indices 0 and 1 introduce an 8- or 16-bit literal (a UTF-16 code
unit), 2 ends the stream. Every dictionary entry is the previous entry plus the first
unit of the next one, so each entry is a slice of the output so far: the dictionary
is kept as (offset, length) pairs into the output, and memory stays a few bytes per
unit of output, whatever the input.
"""

from __future__ import annotations

import base64
import binascii
import sys
from array import array

_REVERSED_BITS = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))
_WINDOW_BYTES = 64
_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


class LZError(ValueError):
    """The text is not lz-string base64 output."""


class LZTooLarge(ValueError):
    """The decompressed text would exceed the caller's limit."""


class _Bits:
    """The input's bits, each character's most significant bit first."""

    def __init__(self, text: str) -> None:
        data = text.rstrip("=").encode("ascii", errors="replace")
        if not _BASE64_ALPHABET.issuperset(data):
            raise LZError("a character outside lz-string's base64 alphabet")
        data += b"A" * (-len(data) % 4)  # zero bits: lz-string pads in its own way
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error as exc:  # pragma: no cover - the alphabet check comes first
            raise LZError(str(exc)) from None
        # Reversing each byte's bits puts stream bit i at bit i of a little-endian int.
        self._data = raw.translate(_REVERSED_BITS)
        self._offset = 0
        self._window = 0
        self._available = 0

    def read(self, count: int) -> int:
        while self._available < count:
            chunk = self._data[self._offset : self._offset + _WINDOW_BYTES]
            if not chunk:
                raise LZError("truncated: the stream has no end marker")
            self._window |= int.from_bytes(chunk, "little") << self._available
            self._available += 8 * len(chunk)
            self._offset += len(chunk)
        value = self._window & ((1 << count) - 1)
        self._window >>= count
        self._available -= count
        return value


def decompress_from_base64(text: str, max_units: int) -> str:
    """The text ``LZString.compressToBase64`` was given.

    Raises :class:`LZError` for input that is not lz-string output (or decodes to
    unpaired UTF-16 surrogates) and :class:`LZTooLarge` when the result would
    exceed ``max_units`` UTF-16 code units.

    Long on purpose: one loop over the tokens, its state in locals for speed.
    """
    if not text:
        return ""
    bits = _Bits(text)
    offsets = array("L", [0, 0, 0])  # entries 0-2 are the token codes, never looked up
    lengths = array("L", [0, 0, 0])
    out = array("H")
    width = 3
    enlarge_in = 4
    first = bits.read(2)
    if first == 2:
        return ""
    if first > 2:
        raise LZError("invalid first token")
    out.append(bits.read(8 if first == 0 else 16))
    offsets.append(0)
    lengths.append(1)
    w_start, w_length = 0, 1
    while True:
        code = bits.read(width)
        if code == 2:
            break
        if code < 2:
            offsets.append(len(out))
            lengths.append(1)
            out.append(bits.read(8 if code == 0 else 16))
            code = len(offsets) - 1
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in = 1 << width
                width += 1
            start, length = offsets[code], 1
        elif code < len(offsets):
            start, length = len(out), lengths[code]
            offset = offsets[code]
            out.extend(out[offset : offset + length])
        elif code == len(offsets):  # the entry being defined: w plus its own first unit
            start, length = len(out), w_length + 1
            out.extend(out[w_start : w_start + w_length])
            out.append(out[w_start])
        else:
            raise LZError(f"token {code} refers past the dictionary ({len(offsets)} entries)")
        if len(out) > max_units:
            raise LZTooLarge(f"lz64 body decompresses to more than {max_units} units")
        offsets.append(w_start)  # w followed by the first unit of this entry
        lengths.append(w_length + 1)
        enlarge_in -= 1
        w_start, w_length = start, length
        if enlarge_in == 0:
            enlarge_in = 1 << width
            width += 1
    raw = out.tobytes()
    try:
        return raw.decode("utf-16-le" if sys.byteorder == "little" else "utf-16-be")
    except UnicodeDecodeError:
        raise LZError("the decompressed text is not valid UTF-16") from None
