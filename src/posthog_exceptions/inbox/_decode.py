"""From an HTTP request to the JSON text of a capture body, as PostHog unpacks it.

The payload is the ``data`` query parameter when there is one (``GET ?data=``),
else the body. A payload that is all base64 is decoded. A form-encoded body
(``application/x-www-form-urlencoded``) holds the payload in its ``data`` field and
may name a ``compression``. The compression is the first of the query's
``compression``, the form's, and the ``Content-Encoding`` header: ``gzip`` /
``gzip-js``, ``deflate`` (zlib), ``lz64`` / ``lz-string`` (lz-string's
``compressToBase64``) or ``base64`` / ``b64``; a body starting with the gzip magic
bytes is gunzipped whatever it says. What remains, if it is still base64, is
decoded once more. Any other compression is refused with a 400 naming it.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from typing import Callable, Mapping, Sequence
from urllib.parse import parse_qs

from ._lz import LZError, LZTooLarge, decompress_from_base64
from ._protocol import Rejected

FORM_MIME_TYPE = "application/x-www-form-urlencoded"

GZIP_MAGIC = b"\x1f\x8b\x08"

COMPRESSIONS = {
    "gzip": "gzip",
    "gzip-js": "gzip",
    "x-gzip": "gzip",
    "deflate": "deflate",
    "lz64": "lz64",
    "lz-string": "lz64",
    "base64": "base64",
    "b64": "base64",
}
"""Every compression name the inbox understands, and what it means."""

_NO_COMPRESSION = frozenset({"", "none", "identity"})
_EXPANDING = frozenset({"gzip", "deflate", "lz64"})
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_FORM_FIELD = re.compile(rb"(?:^|&)(?:data|_|ip|compression|ver)=")


def compression_of(value: str | None, where: str) -> str | None:
    """The meaning of one compression name, or ``None``; 400 for an unknown one."""
    name = (value or "").strip().lower()
    if name in _NO_COMPRESSION:
        return None
    if name not in COMPRESSIONS:
        raise Rejected(
            400, f"unsupported compression: {value.strip() if value else value} ({where})"
        )
    return COMPRESSIONS[name]


def _looks_like_form(payload: bytes) -> bool:
    return _FORM_FIELD.search(payload[:128]) is not None


def _looks_like_base64(payload: bytes) -> bool:
    return bool(payload) and len(payload) % 4 == 0 and _BASE64.fullmatch(payload) is not None


def _unbase64(payload: bytes) -> bytes:
    """``payload`` base64-decoded when it is base64, else unchanged."""
    if not _looks_like_base64(payload):
        return payload
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return payload


def _restore_pluses(data: str) -> bytes:
    # A '+' of base64 sent unescaped arrives as a space once the form is decoded.
    raw = data.encode("utf-8")
    if b" " in raw and _looks_like_base64(raw.replace(b" ", b"+")):
        return raw.replace(b" ", b"+")
    return raw


def _first(fields: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def extract_payload(
    body: bytes, query: Mapping[str, Sequence[str]], headers: Mapping[str, str]
) -> tuple[bytes, str | None]:
    """The payload and its compression (``None``, or a value of :data:`COMPRESSIONS`).

    ``headers`` maps lower-case names to values. Raises :class:`Rejected` (400) for an
    empty request, a form body that is not a form, or an unknown compression.
    """
    data = _first(query, "data")
    payload = _restore_pluses(data) if data else body
    if not payload:
        raise Rejected(400, "empty request: no body and no data= query parameter")
    if not _looks_like_form(payload):
        payload = _unbase64(payload)
    form: dict[str, list[str]] = {}
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == FORM_MIME_TYPE and not data:
        if not _looks_like_form(payload):
            raise Rejected(400, "expected form data (data=...) in a form-encoded body")
        try:
            form = parse_qs(payload.decode("ascii"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            raise Rejected(400, f"invalid form-encoded body: {exc}") from None
    compression = compression_of(_first(query, "compression"), "compression= query parameter")
    if compression is None:
        compression = compression_of(_first(form, "compression"), "form field")
    if compression is None:
        compression = compression_of(headers.get("content-encoding"), "Content-Encoding")
    form_data = _first(form, "data")
    if form_data is not None:
        payload = _restore_pluses(form_data)
    return payload, compression


def expands(payload: bytes, compression: str | None) -> bool:
    """Whether decoding ``payload`` may produce more bytes than it has."""
    return compression in _EXPANDING or payload.startswith(GZIP_MAGIC)


def _inflate(raw: bytes, wbits: int, what: str, max_bytes: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    data = raw
    while True:  # one pass per gzip member
        inflater = zlib.decompressobj(wbits)
        try:
            part = inflater.decompress(data, max_bytes - size)
        except zlib.error as exc:
            raise Rejected(400, f"invalid {what} body: {exc}") from None
        size += len(part)
        parts.append(part)
        if inflater.unconsumed_tail or size >= max_bytes:
            raise Rejected(413, "request body too large", "payload_too_large")
        if not inflater.eof:
            raise Rejected(400, f"invalid {what} body: truncated")
        data = inflater.unused_data
        if not data or wbits != 16 + zlib.MAX_WBITS:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(400, f"{what} is not UTF-8: {exc}") from None


def decode_payload(
    payload: bytes, compression: str | None, *, max_bytes: int, make_room: Callable[[], None]
) -> str:
    """The JSON text of ``payload``: decompressed, then un-base64ed if it still is base64.

    ``make_room`` is called before anything that may expand (it may raise to refuse).
    Raises :class:`Rejected`: 400 for a broken encoding, 413 when the result reaches
    ``max_bytes``.
    """
    if expands(payload, compression):
        make_room()
    if compression == "gzip" or payload.startswith(GZIP_MAGIC):
        text = _utf8(_inflate(payload, 16 + zlib.MAX_WBITS, "gzip", max_bytes), "gzip body")
    elif compression == "deflate":
        text = _utf8(_inflate(payload, zlib.MAX_WBITS, "deflate", max_bytes), "deflate body")
    elif compression == "lz64":
        try:
            text = decompress_from_base64(payload.decode("ascii", errors="replace"), max_bytes)
        except LZTooLarge:
            raise Rejected(413, "request body too large", "payload_too_large") from None
        except LZError as exc:
            raise Rejected(400, f"invalid lz64 body: {exc}") from None
    else:
        text = _utf8(_unbase64(payload) if compression == "base64" else payload, "the body")
    if len(text) >= max_bytes:
        raise Rejected(413, "request body too large", "payload_too_large")
    if text[:1].isalnum() and text.isascii():  # JSON starts with '{' or '[', base64 cannot
        encoded = text.encode("ascii")
        unwrapped = _unbase64(encoded)
        if unwrapped is not encoded:
            try:
                text = unwrapped.decode("utf-8")
            except UnicodeDecodeError:
                pass
    return text
